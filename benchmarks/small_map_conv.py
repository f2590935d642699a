"""Per-shape timing behind src/models/small_map_conv.py's FAST_PATHS: every distinct convolution of ResNet50-BAM at one
input size, forward and backward (gradients of input and weights, as training needs them) and forward alone, as
MindSpore's Conv2D and in the fastest matrix-product form that applies, in milliseconds (median of several calls
after warm-up, graph mode, the full-width network).

    python -m benchmarks.small_map_conv [--batch_size 64] [--image_size 32] [--largest_map 64] [--runs 5]
                                       [--output FILE]

`count` is how often the shape occurs in the network; `form` is the fastest matrix-product form for training,
`chosen` the form FAST_PATHS picks. Run it on an otherwise idle machine.
"""
import argparse
import collections
import os
import statistics
import time

import numpy as np

from src.models.cost import forward_with_hooks
from src.models.small_map_conv import CONVOLUTION, POINTWISE, UNROLLED, SmallMapConv2d, fast_path, padding_of
from src.utils.files import write_json

RUNS = 5
WARMUP = 2


def progress(message):
    print(f'[small_map_conv] {message}', flush=True)


def conv_shapes(net, image_size):
    """Counter of (input shape without batch, conv settings) over the network's convolutions, from one forward
    pass of one image."""
    from mindspore import nn

    shapes = collections.Counter()

    def record(cell, inputs, _output):
        shapes[(tuple(inputs[0].shape[1:]), cell.out_channels, tuple(cell.kernel_size), tuple(cell.stride[-2:]),
                tuple(cell.dilation[-2:]), cell.pad_mode, cell.padding, cell.has_bias)] += 1

    forward_with_hooks(net, nn.Conv2d, record, image_height=image_size, image_width=image_size)
    return shapes


def timed_forms(shape, batch_size, runs):
    """({form: {'forward': ms, 'training': ms of forward + backward}}, the form FAST_PATHS picks) for one shape."""
    import mindspore as ms
    from mindspore import nn, ops

    (channels, height, width), out_channels, kernel, stride, dilation, pad_mode, padding, has_bias = shape
    conv = SmallMapConv2d(channels, out_channels, kernel, stride=stride, pad_mode=pad_mode, padding=padding,
                          dilation=dilation, has_bias=has_bias)
    padding = padding_of(conv)

    class Forced(nn.Cell):
        def __init__(self, form):
            super().__init__()
            self.conv, self.form = conv, form

        def construct(self, x):
            if self.form == POINTWISE:
                return self.conv.pointwise(x)
            if self.form == UNROLLED:
                return self.conv.unrolled(x, padding)
            return self.conv.conv2d(x, self.conv.weight)

    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.standard_normal((batch_size, channels, height, width), dtype=np.float32))
    pointwise = kernel == (1, 1) and not any(padding)
    forms = (CONVOLUTION, POINTWISE if pointwise else UNROLLED)
    if pointwise and height * width <= 16:
        forms += (UNROLLED,)

    class Backward(nn.Cell):
        def __init__(self, cell):
            super().__init__()
            self.cell, self.weights = cell, ms.ParameterTuple(cell.trainable_params())
            self.grad = ops.GradOperation(get_all=True, get_by_list=True)

        def construct(self, x):
            return self.grad(self.cell, self.weights)(x)

    def median_ms(call):
        for _ in range(WARMUP + 1):
            call()
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            call()
            timings.append(time.perf_counter() - start)
        return 1000 * statistics.median(timings)

    times = {}
    for form in forms:
        forward, backward = Forced(form), Backward(Forced(form))
        times[form] = {'forward': median_ms(lambda forward=forward: forward(x).asnumpy()),
                       'training': median_ms(lambda backward=backward: backward(x)[1][0].asnumpy())}
    chosen = fast_path((batch_size, channels, height, width), (out_channels, channels) + kernel,
                       conv.stride, conv.dilation, padding)
    return times, chosen


def main():
    parser = argparse.ArgumentParser(prog='python -m benchmarks.small_map_conv', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--batch_size', type=int, default=64, help='images per batch')
    parser.add_argument('--image_size', type=int, default=32, help='input height and width')
    parser.add_argument('--runs', type=int, default=RUNS, help='timed calls per form (after warm-up)')
    parser.add_argument('--largest_map', type=int, default=64, help='measure input maps of at most this many pixels')
    parser.add_argument('--output', default='output/benchmark_small_map_conv.json', help='JSON result file')
    args = parser.parse_args()

    import mindspore as ms

    from src.models import create_model
    from src.utils.device import cap_cpu_isa
    cap_cpu_isa()
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device('CPU')
    shapes = conv_shapes(create_model(num_classes=10), args.image_size)
    rows = []
    print(f'{"input":>14} {"out":>5} {"k":>2} {"s":>2} {"d":>2} {"count":>5} | forward + backward ms: {"conv":>7} '
          f'{"matmul":>7} | forward ms: {"conv":>6} {"matmul":>7} | {"form":>9} {"chosen":>11}', flush=True)
    for shape, count in sorted(shapes.items(), key=lambda item: (-item[0][0][1], item[0])):
        if shape[0][1] * shape[0][2] > args.largest_map:
            continue
        times, chosen = timed_forms(shape, args.batch_size, args.runs)
        (channels, height, width), out_channels, kernel, stride, dilation = shape[:5]
        fast = min((form for form in times if form != CONVOLUTION), key=lambda form: times[form]['training'])
        conv, matmul = times[CONVOLUTION], times[fast]
        print(f'{f"{channels}x{height}x{width}":>14} {out_channels:>5} {kernel[0]:>2} {stride[0]:>2} {dilation[0]:>2} '
              f'{count:>5} | {"":>22} {conv["training"]:>7.2f} {matmul["training"]:>7.2f} | {"":>11} '
              f'{conv["forward"]:>6.2f} {matmul["forward"]:>7.2f} | {fast:>9} {chosen:>11}', flush=True)
        rows.append({'input': [channels, height, width], 'out_channels': out_channels, 'kernel': list(kernel),
                     'stride': list(stride), 'dilation': list(dilation), 'count': count, 'ms': times, 'chosen': chosen})
    write_json(args.output, {'batch_size': args.batch_size, 'image_size': args.image_size, 'runs': args.runs,
                             'load_average': list(os.getloadavg()), 'shapes': rows})


if __name__ == '__main__':
    main()

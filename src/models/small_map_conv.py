"""Convolutions on small feature maps as matrix products, for the CPU: the same numbers, faster.

MindSpore's CPU Conv2D hands oneDNN plain NCHW tensors, and oneDNN's GEMM convolution then works image by image.
On the small maps of the last stages (a 32x32 input leaves 2x2 maps in stage 3 and 1x1 in stage 4) every image
is a thin matrix product, and the weight gradient a sum of a batch of them. Written as one product over the
whole batch, the same arithmetic runs at the matrix-multiply rate:

  pointwise  a 1x1 convolution without padding: (N*H*W, C) @ (C, O) on the channels-last view of the input,
             strided first (on a 1x1 map that view is a reshape);
  unrolled   any other convolution: every output pixel is a fixed combination of the input pixels, so the
             layer is (N, H*W*C) @ (H*W*C, O*P) for P output pixels, the second factor built in the forward pass
             from the (O, C, kh, kw) weights and a constant 0/1 table of which input pixel each tap of each
             output pixel reads (none where the tap falls on padding). Its size grows as the square of the map's,
             so it is for the smallest maps only.

The weights keep their shape and name (checkpoints are unchanged) and the gradients are those of the convolution:
the constant table routes each weight's gradient to its tap, and a tap that only ever reads padding gets zero,
as it does in the convolution.

Which convolutions take which form is decided by the map sizes in FAST_PATHS, measured shape by shape with
benchmarks/small_map_conv.py; everything else stays a plain Conv2D (at 224x224 the smallest map is 7x7: nothing
changes). The decision is made when the graph is compiled, from the input's static shape. Export leaves this
module out: the exported graphs are those of the network file.
"""
import numpy as np

import mindspore as ms
from mindspore import nn, ops
from mindspore.ops import constexpr

POINTWISE, UNROLLED, CONVOLUTION = 'pointwise', 'unrolled', 'convolution'
# a @ b.T without a transposed copy of b
MATMUL_BT = ops.MatMul(transpose_b=True)
BATCH_MATMUL_BT = ops.BatchMatMul(transpose_b=True)

# The largest maps (H*W pixels) each form is used for. Measured at batch 64 with benchmarks/small_map_conv.py
# (forward + backward ms, convolution -> matrix product; benchmarks/PERFORMANCE.md has every shape): faster on
# every 2x2 and 1x1 map (1x1 512->2048: 41 -> 7.5; 3x3 512->512 on 1x1: 94 -> 10; 3x3 256->256 on 2x2: 42 -> 9.6;
# 1x1 1024->2048 stride 2 on 2x2: 218 -> 18), and on 4x4 only for the 3x3 stride-2 convolution to 2x2
# (30 -> 18); 4x4 maps otherwise tie or lose (3x3 128->128: 20 -> 19, forward 8.8 -> 17; 1x1 512->128: 5.5 -> 7.6).
FAST_PATHS = {'pointwise_input': 4, 'unrolled_input': 16, 'unrolled_output': 4}


def padding_of(conv):
    """(top, bottom, left, right) padding of an nn.Conv2d, or None for 'same'."""
    if conv.pad_mode == 'valid':
        return 0, 0, 0, 0
    if conv.pad_mode != 'pad':
        return None
    padding = conv.padding
    return (padding,) * 4 if isinstance(padding, int) else tuple(padding)


def output_size(size, kernel, *, stride, dilation, before, after):
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


@constexpr
def fast_path(input_shape, weight_shape, stride, dilation, padding):
    """Which form computes this convolution: POINTWISE, UNROLLED or CONVOLUTION (the rule: FAST_PATHS)."""
    _, _, height, width = input_shape
    _, _, kernel_h, kernel_w = weight_shape
    if padding is None:
        return CONVOLUTION
    if (kernel_h, kernel_w) == (1, 1) and not any(padding):
        return POINTWISE if height * width <= FAST_PATHS['pointwise_input'] else CONVOLUTION
    top, bottom, left, right = padding
    out_pixels = (output_size(height, kernel_h, stride=stride[-2], dilation=dilation[-2], before=top, after=bottom)
                  * output_size(width, kernel_w, stride=stride[-1], dilation=dilation[-1], before=left, after=right))
    if height * width <= FAST_PATHS['unrolled_input'] and out_pixels <= FAST_PATHS['unrolled_output']:
        return UNROLLED
    return CONVOLUTION


@constexpr
def tap_table(input_shape, weight_shape, stride, dilation, padding):
    """(O, P*Q, kh*kw) 0/1 float32 table for P output and Q input pixels, the same for each of the O output
    channels: entry [o, (p, q), tap] is 1 where output pixel p reads input pixel q through that tap; and (P_h, P_w).
    A (p, q) row of zeros: p never reads q (its taps there fall on padding)."""
    _, _, height, width = input_shape
    out_channels, _, kernel_h, kernel_w = weight_shape
    stride_h, stride_w = stride[-2:]
    dilation_h, dilation_w = dilation[-2:]
    top, bottom, left, right = padding
    out_h = output_size(height, kernel_h, stride=stride_h, dilation=dilation_h, before=top, after=bottom)
    out_w = output_size(width, kernel_w, stride=stride_w, dilation=dilation_w, before=left, after=right)
    table = np.zeros((out_h, out_w, height, width, kernel_h, kernel_w), np.float32)
    for i, j, a, b in np.ndindex(out_h, out_w, kernel_h, kernel_w):
        y, x = i * stride_h - top + a * dilation_h, j * stride_w - left + b * dilation_w
        if 0 <= y < height and 0 <= x < width:
            table[i, j, y, x, a, b] = 1
    table = table.reshape(1, out_h * out_w * height * width, kernel_h * kernel_w)
    return ms.Tensor(np.repeat(table, out_channels, axis=0)), (out_h, out_w)


class SmallMapConv2d(nn.Conv2d):
    """nn.Conv2d that computes small maps as one matrix product (module docstring); the same cell otherwise."""

    def construct(self, x):
        padding = padding_of(self)
        path = fast_path(x.shape, self.weight.shape, self.stride, self.dilation, padding)
        if path == POINTWISE:
            output = self.pointwise(x)
        elif path == UNROLLED:
            output = self.unrolled(x, padding)
        else:
            output = self.conv2d(x, self.weight)
        if self.has_bias:
            output = self.bias_add(output, self.bias)
        return output

    def pointwise(self, x):
        """(N*H*W, C) @ (O, C)^T on the channels-last pixels (strided first)."""
        stride_h, stride_w = self.stride[-2:]
        if stride_h > 1 or stride_w > 1:
            x = x[:, :, ::stride_h, ::stride_w]
        batch, channels, height, width = x.shape
        weight = self.weight.reshape(self.out_channels, channels)
        output = MATMUL_BT(channels_last(x), weight)
        if height * width == 1:
            return output.reshape(batch, self.out_channels, 1, 1)
        return output.reshape(batch, height, width, self.out_channels).transpose(0, 3, 1, 2)

    def unrolled(self, x, padding):
        """(N, Q*C) @ (O*P, Q*C)^T for Q input and P output pixels, channels last: the second factor is the weights
        spread over the input pixels that each output pixel reads."""
        batch, channels, height, width = x.shape
        out_channels = self.out_channels
        table, (out_h, out_w) = tap_table(x.shape, self.weight.shape, self.stride, self.dilation, padding)
        # for each output channel: (P*Q, taps) @ (C, taps)^T; in the input's type (float16 under mixed precision)
        spread = BATCH_MATMUL_BT(table.astype(x.dtype), self.weight.reshape(out_channels, channels, -1))
        spread = spread.reshape(out_channels * out_h * out_w, height * width * channels)
        output = MATMUL_BT(channels_last(x).reshape(batch, -1), spread)
        return output.reshape(batch, out_channels, out_h, out_w)


def channels_last(x):
    """(N, C, H, W) -> (N*H*W, C)."""
    batch, channels, height, width = x.shape
    if height * width == 1:
        return x.reshape(batch, channels)
    return x.transpose(0, 2, 3, 1).reshape(batch * height * width, channels)


def use_small_map_convs(net):
    """Make every plain nn.Conv2d of `net` a SmallMapConv2d, in place: the same cells with the same parameters
    and names, computed as above where FAST_PATHS says so. Returns how many it changed."""
    convs = [cell for _, cell in net.cells_and_names()
             if type(cell) is nn.Conv2d and cell.group == 1 and cell.data_format == 'NCHW']  # pylint: disable=unidiomatic-typecheck
    for conv in convs:
        conv.__class__ = SmallMapConv2d
    return len(convs)

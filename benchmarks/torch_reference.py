"""The same model in PyTorch, for benchmark.py's ratios: the authors' official ResNet50-BAM (src/convert/official_resnet_torch.py),
float32 NCHW, eager, on as many threads as this process may use, with the step of train.py's recipe (SGD with
momentum and weight decay, label-smoothed cross-entropy) and inference in eval mode.

It runs in its own process so that PyTorch's and MindSpore's thread pools never share one: benchmark.py starts it,
and between its own timed steps asks it for one timed step, so both are measured under the same load.

    python -m benchmarks.torch_reference BATCH HEIGHT WIDTH CLASSES

reads commands on stdin, one a line, and answers each with one line: `train` or `infer` runs one step and prints
its seconds; `quit` ends. Only the timing of the step itself is printed.
"""
import os
import sys
import time

import torch
from torch import nn

from src.convert.official_resnet_torch import ResidualNetBAM


def reference_model(num_classes):
    """The official model. Its fixed 7 x 7 average pool is global at 224 x 224 only; written as a global pool it
    runs at any input size at the same cost."""
    net = ResidualNetBAM(num_classes)
    net.avgpool = nn.AdaptiveAvgPool2d(1)
    return net


def main():
    batch, height, width, num_classes = (int(value) for value in sys.argv[1:5])
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(0)
    net = reference_model(num_classes)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_function = nn.CrossEntropyLoss(label_smoothing=0.1)
    images = torch.randn(batch, 3, height, width)
    labels = torch.randint(0, num_classes, (batch,))

    def train():
        net.train()
        optimizer.zero_grad()
        loss_function(net(images), labels).backward()
        optimizer.step()

    def infer():
        net.eval()
        with torch.no_grad():
            net(images)

    steps = {'train': train, 'infer': infer}
    print('ready', flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == 'quit':
            break
        start = time.perf_counter()
        steps[command]()
        print(f'{time.perf_counter() - start:.6f}', flush=True)


if __name__ == '__main__':
    main()

"""The gradient all-reduce of a data-parallel step, alone: the time to sum ResNet50-BAM's gradients (one float32
per trainable parameter, 25,915,099 for 1000 classes) over the workers, median of several after warm-up.
Started by msrun on every machine of the run, one worker each, for example on two machines:

    msrun --worker_num=2 --local_worker_num=1 --master_addr=MACHINE_0 --master_port=29621 --node_rank=K \\
        --log_dir=logs --join=True benchmarks/allreduce.py [--elements N] [--runs 7]

Each worker is set up as train.py's workers are (src.utils.device.setup_device: its share of the machine's CPUs,
gradient all-reduce fusion on) and says so; rank 0 prints the figure (in its worker log).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RUNS = 7
WARMUP = 2


def gradient_elements(num_classes=1000):
    from src.models import create_model
    return sum(param.size for param in create_model(num_classes=num_classes).trainable_params())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--elements', type=int, default=0, help='float32 values to sum; 0: the network\'s gradients')
    parser.add_argument('--runs', type=int, default=RUNS, help='timed all-reduces; the median is reported')
    args = parser.parse_args()

    import numpy as np

    import mindspore as ms
    from mindspore import ops
    from mindspore.communication import get_group_size, get_rank
    from mindspore.parallel._auto_parallel_context import auto_parallel_context
    from src.config import parse_config
    from src.utils.device import setup_device

    # Graph mode, as train.py runs by default (the op is slower in PyNative mode), on the CPU.
    device = setup_device(parse_config('allreduce', ['--device_target', 'CPU', '--run_distribute', 'true']))
    # The public getter reports the fusion settings but not whether fusion is on.
    print(f'rank {device.rank} of {device.group_size}: CPUs {sorted(os.sched_getaffinity(0))}, gradient all-reduce '
          f'fusion {"on" if auto_parallel_context().get_enable_all_reduce_fusion() else "off"}', flush=True)
    elements = args.elements or gradient_elements()
    values = ms.Tensor(np.ones(elements, np.float32))
    all_reduce = ops.AllReduce()
    seconds = []
    for _ in range(WARMUP + args.runs):
        start = time.perf_counter()
        total = all_reduce(values).asnumpy()
        seconds.append(time.perf_counter() - start)
    assert total[0] == get_group_size(), total[0]
    timed = seconds[WARMUP:]
    if get_rank() == 0:
        print(f'all-reduce of {elements:,} float32 ({elements * 4 / 1e6:.0f} MB) over {get_group_size()} workers: '
              f'median {statistics.median(timed):.3f} s (min {min(timed):.3f}, max {max(timed):.3f}, {args.runs} runs)',
              flush=True)


if __name__ == '__main__':
    main()

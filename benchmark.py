"""Speed of ResNet50-BAM on this machine: training and inference images/s, graph compile time, peak memory and the
data pipeline's images/s, each the median of several timed steps after warm-up, set against the machine's own
float32 matrix-multiply rate measured in the same run.

  python benchmark.py [--batch_size 32] [--image_height 224 --image_width 224] [--bench_steps 5]
                      [--bench_warmup 2] [--bench_output output/benchmark.json] [--device_target auto]

Every setting of train.py applies (width, classes, mixed precision, device, mode, --cpu_fast_conv, ...). The model
figures feed synthetic tensors straight to the network as train.py and eval.py build it, so they leave the data
pipeline out; it is measured on its own.

  matmul bound     float32 matrix multiply (numpy's BLAS, 3072 x 3072, every CPU this process may use):
                   what this machine's cores can do on the model's kind of arithmetic
  training         the step train.py runs (src.engine.train_step.build_train_network: forward, loss, backward, update)
  inference        the network in eval mode, forward only
  first call       the first call of each: graph compilation plus one step
  peak RSS         the process's resident-memory high-water mark (VmHWM) over the inference phase and over the
                   training phase: Python, MindSpore, weights, optimizer state, activations, and MindSpore's
                   memory pool, which keeps what earlier phases allocated; data-pipeline workers are not included
  data pipeline    src.data.dataset's training pipeline on ImageNet-sized JPEGs (benchmarks/data_pipeline.py)
  of bound         model arithmetic per second / matmul bound. A forward pass costs 2 x the multiply-adds of its
                   convolutions and dense layers (8.34 GFLOP for a 224 x 224 image), a training step 3 x that.
  PyTorch s, ratio on the CPU, when PyTorch is installed and the model is the official one (full width, product
                   fusion): the authors' model in PyTorch (benchmarks/torch_reference.py: float32 NCHW, eager, as many
                   threads), same batch and size, one of its steps timed after each of ours so both see the same load;
                   ratio = our median step time / its median. Below 1 is faster than PyTorch.
The figures of bound only mean something on the CPU; on an accelerator they are left out.
"""
from src.utils.interrupts import answer_signals_if_main

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import importlib.metadata
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

from src.config import parse_config
from src.models.cost import multiply_adds
from src.utils.errors import run_main
from src.utils.files import check_output_dir, write_json

MATMUL_SIZE = 3072
TRAINING_FLOP_FACTOR = 3  # backward costs about twice the forward
OFFICIAL_MODEL = (64, 'product')  # base_width and bam_fusion of the authors' model, PyTorch's reference
# Report entries copied from the configuration.
CONFIG_KEYS = ('batch_size', 'image_height', 'image_width', 'num_classes', 'base_width', 'bam_fusion', 'amp_level',
               'mode', 'num_parallel_workers', 'bench_steps', 'bench_warmup', 'bench_pipeline_images')


def progress(message):
    print(f'[benchmark] {message}', flush=True)


def median_call_seconds(call, warmup, steps, reference=None):
    """(seconds of the first call, [seconds of each of `steps` timed calls], [seconds of the reference's steps])
    with `warmup` untimed calls between; `call` must return only when its work is done. `reference`, when given,
    runs one step of the reference after each call (warm-up ones too) and returns its seconds."""
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    for _ in range(warmup + (reference is not None)):
        call()
        if reference is not None:
            reference()
    timings, reference_timings = [], []
    for _ in range(steps):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
        if reference is not None:
            reference_timings.append(reference())
    return first, timings, reference_timings


def matmul_gflops(warmup, runs, size=MATMUL_SIZE):
    """Median float32 matrix-multiply rate of numpy's BLAS in GFLOP/s over `runs` timed calls after `warmup` (the
    BLAS uses every CPU it may)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    _, timings, _ = median_call_seconds(lambda: a @ b, warmup, runs)
    return 2 * size ** 3 / statistics.median(timings) / 1e9


class PeakMemory:
    """The process's resident-set high-water mark, per phase where Linux lets it be reset (/proc/self/clear_refs),
    else since the process started."""

    def __init__(self):
        self.per_phase = self._reset()

    @staticmethod
    def _reset():
        try:
            with open('/proc/self/clear_refs', 'w', encoding='ascii') as handle:
                handle.write('5')  # 5: reset the peak resident set size to the current one
            return True
        except OSError:
            return False

    def start_phase(self):
        self._reset()

    @staticmethod
    def peak_mib():
        try:
            with open('/proc/self/status', encoding='ascii') as handle:
                for line in handle:
                    if line.startswith('VmHWM:'):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    @property
    def scope(self):
        return 'phase' if self.per_phase else 'process'


def synthetic_batch(cfg):
    """Images like normalised photos and random labels, as the training pipeline yields them."""
    import mindspore as ms
    rng = np.random.default_rng(cfg.seed)
    images = rng.standard_normal((cfg.batch_size, 3, cfg.image_height, cfg.image_width), dtype=np.float32)
    labels = rng.integers(0, cfg.num_classes, cfg.batch_size).astype(np.int32)
    return ms.Tensor(images), ms.Tensor(labels)


def model_figures(call, cfg, *, flops_per_image, bound_gflops, memory, reference=None):
    """Time `call` (one batch) and describe it: images/s, step times, first call, GFLOP/s, fraction of bound, and
    with a `reference` (one PyTorch step, timed between ours) its step times and our median over its median."""
    memory.start_phase()
    first, timings, reference_timings = median_call_seconds(call, cfg.bench_warmup, cfg.bench_steps, reference)
    step = statistics.median(timings)
    gflops = cfg.batch_size * flops_per_image / step / 1e9
    figures = {'images_per_s': cfg.batch_size / step, 'step_s_median': step, 'step_s': timings,
               'first_call_s': first, 'gflop_per_s': gflops,
               'fraction_of_matmul_bound': gflops / bound_gflops if bound_gflops else None,
               'peak_rss_mib': memory.peak_mib()}
    if reference is not None:
        figures['pytorch'] = {'step_s_median': statistics.median(reference_timings), 'step_s': reference_timings}
        figures['ratio_to_pytorch'] = step / figures['pytorch']['step_s_median']
    return figures


class TorchReference:
    """benchmarks/torch_reference.py (the official model in PyTorch, same batch and size) in its own process, one
    timed step per call; None from `start` when PyTorch is not installed."""

    def __init__(self, cfg):
        # PyTorch at its own defaults: the oneDNN settings this process made for MindSpore are not passed on.
        env = {key: value for key, value in os.environ.items() if not key.startswith(('ONEDNN_', 'DNNL_'))}
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'benchmarks.torch_reference', str(cfg.batch_size), str(cfg.image_height),
             str(cfg.image_width), str(cfg.num_classes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            cwd=os.path.dirname(os.path.abspath(__file__)))
        if self.process.stdout.readline().strip() != 'ready':
            raise RuntimeError(f'the PyTorch reference did not start (exit status {self.process.wait()})')
        self.version = importlib.metadata.version('torch')

    @staticmethod
    def why_not(cfg, device_target):
        """Why there is no PyTorch reference for this configuration, or None when there is one."""
        if device_target != 'CPU':
            return 'PyTorch\'s reference runs on the CPU only: no ratio on an accelerator'
        if (cfg.base_width, cfg.bam_fusion) != OFFICIAL_MODEL:
            return (f'PyTorch\'s reference is the official model (--base_width {OFFICIAL_MODEL[0]}, --bam_fusion '
                    f'{OFFICIAL_MODEL[1]}): no ratio for this one')
        if importlib.util.find_spec('torch') is None:
            return 'PyTorch is not installed: no ratio against it (pip install -r requirements-test.txt adds it)'
        return None

    def step(self, command):
        self.process.stdin.write(command + '\n')
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self):
        self.process.communicate('quit\n')


def machine_description(device_target):
    import mindspore as ms

    from src.utils.device import cpu_settings
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as handle:
            model = next(line.split(':', 1)[1].strip() for line in handle if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return {'cpu': model, 'cpus': len(os.sched_getaffinity(0)), 'device_target': device_target,
            'mindspore': ms.__version__, 'numpy': np.__version__, 'python': platform.python_version(),
            'cpu_settings': cpu_settings() if device_target == 'CPU' else {}}


def cpu_busy_fraction(seconds=1.0):
    """Share of all CPUs busy over `seconds` (from /proc/stat), before this benchmark loads them; None off Linux."""
    def sample():
        with open('/proc/stat', encoding='ascii') as handle:
            values = [int(value) for value in handle.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    try:
        total_before, idle_before = sample()
        time.sleep(seconds)
        total_after, idle_after = sample()
    except OSError:
        return None
    return 1 - (idle_after - idle_before) / max(1, total_after - total_before)


def run_benchmark(cfg):
    """Every figure, as the JSON report's dict."""
    from src.utils.device import setup_device
    load_before, busy_before = os.getloadavg(), cpu_busy_fraction()
    progress(f'load average {load_before[0]:.2f}, CPUs busy {busy_before:.0%} before the start'
             if busy_before is not None else f'load average {load_before[0]:.2f} before the start')
    device = setup_device(cfg)
    on_cpu = device.target == 'CPU'

    from benchmarks.data_pipeline import pipeline_images_per_second
    from src.data.dataset import resolve_num_workers
    from src.engine.train_step import amp_level, build_train_network
    from src.models import create_model, model_options
    from src.models.small_map_conv import SmallMapConv2d

    memory = PeakMemory()
    bound = None
    if on_cpu:
        progress(f'float32 matrix multiply, {MATMUL_SIZE} x {MATMUL_SIZE}, median of {cfg.bench_steps}')
        bound = matmul_gflops(cfg.bench_warmup, cfg.bench_steps)
        progress(f'  {bound:.0f} GFLOP/s')

    net = create_model(**model_options(cfg, device.target))
    flops_per_image = 2 * multiply_adds(net, cfg.image_height, cfg.image_width)
    fast_convs = sum(isinstance(cell, SmallMapConv2d) for _, cell in net.cells_and_names())
    images, labels = synthetic_batch(cfg)
    runs = f'{cfg.bench_warmup} warm-up + {cfg.bench_steps} timed steps'
    no_reference = TorchReference.why_not(cfg, device.target)
    pytorch = TorchReference(cfg) if no_reference is None else None
    if pytorch is not None:
        progress(f'PyTorch {pytorch.version} runs the official model beside it, one step after each of ours')
    try:
        progress(f'inference, batch {cfg.batch_size}, {cfg.image_height}x{cfg.image_width}: first call, {runs}')
        net.set_train(False)
        inference = model_figures(lambda: net(images).asnumpy(), cfg, flops_per_image=flops_per_image,
                                  bound_gflops=bound, memory=memory,
                                  reference=pytorch and (lambda: pytorch.step('infer')))
        progress(f'  {inference["images_per_s"]:.2f} images/s, first call {inference["first_call_s"]:.1f} s')

        progress(f'training step, batch {cfg.batch_size}: first call, {runs}')
        calls = 1 + cfg.bench_warmup + (pytorch is not None) + cfg.bench_steps
        train_network = build_train_network(cfg, net, np.full(calls, cfg.lr_init, np.float32), device.target)
        train_network.set_train(True)
        training = model_figures(lambda: train_network(images, labels).asnumpy(), cfg,
                                 flops_per_image=TRAINING_FLOP_FACTOR * flops_per_image, bound_gflops=bound,
                                 memory=memory, reference=pytorch and (lambda: pytorch.step('train')))
    finally:
        if pytorch is not None:
            pytorch.close()
    training['amp_level'] = amp_level(cfg, device.target)
    progress(f'  {training["images_per_s"]:.2f} images/s, first call {training["first_call_s"]:.1f} s')

    workers = resolve_num_workers(cfg.num_parallel_workers)
    progress(f'data pipeline, {workers} workers: {cfg.bench_pipeline_images} JPEGs, one warm-up and '
             f'{cfg.bench_steps} timed epochs')
    pipeline_rate = pipeline_images_per_second(image_height=cfg.image_height, image_width=cfg.image_width,
                                               batch_size=cfg.batch_size, num_parallel_workers=workers,
                                               training=True, images=cfg.bench_pipeline_images, runs=cfg.bench_steps)
    progress(f'  {pipeline_rate:.0f} images/s')

    return {'config': {key: cfg[key] for key in CONFIG_KEYS}, 'machine': machine_description(device.target),
            'forward_gflop_per_image': flops_per_image / 1e9, 'matmul_bound_gflop_per_s': bound,
            'small_map_convs': fast_convs, 'pytorch': {'version': pytorch.version} if pytorch else {'none': no_reference},
            'inference': inference, 'training': training,
            'data_pipeline': {'images_per_s': pipeline_rate, 'workers': workers,
                              'times_training_rate': pipeline_rate / training['images_per_s']},
            'peak_rss_scope': memory.scope, 'load_average_before': list(load_before),
            'cpus_busy_before': busy_before, 'load_average_after': list(os.getloadavg())}


def format_report(report):
    cfg, machine = report['config'], report['machine']

    def of_bound(figures):
        fraction = figures['fraction_of_matmul_bound']
        return f'{fraction:>8.0%}' if fraction is not None else f'{"-":>8}'

    def against_pytorch(figures):
        if 'pytorch' not in figures:
            return ''
        return f'{figures["pytorch"]["step_s_median"]:>11.3f}{figures["ratio_to_pytorch"]:>7.2f}'

    rows = [(name, figures) for name, figures in (('training step', report['training']),
                                                  ('inference', report['inference']))]
    pipeline = report['data_pipeline']
    bound = report['matmul_bound_gflop_per_s']
    lines = [
        f'ResNet50-BAM, batch {cfg["batch_size"]}, {cfg["image_height"]}x{cfg["image_width"]}, '
        f'{report["forward_gflop_per_image"]:.2f} GFLOP per image forward; {machine["device_target"]} '
        f'({machine["cpu"]}, {machine["cpus"]} CPUs), MindSpore {machine["mindspore"]}',
        f'matmul bound: {bound:.0f} GFLOP/s (float32)' if bound else 'matmul bound: not measured off the CPU',
        f'{"":<15}{"images/s":>10}{"step s":>9}{"GFLOP/s":>9}{"of bound":>9}{"first call s":>14}'
        f'{"peak RSS MiB":>14}' + (f'{"PyTorch s":>11}{"ratio":>7}' if 'version' in report['pytorch'] else ''),
    ]
    lines += [f'{name:<15}{f["images_per_s"]:>10.2f}{f["step_s_median"]:>9.3f}{f["gflop_per_s"]:>9.0f}{of_bound(f)}'
              f'{f["first_call_s"]:>14.1f}{f["peak_rss_mib"]:>14.0f}' + against_pytorch(f) for name, f in rows]
    lines.append(f'{"data pipeline":<15}{pipeline["images_per_s"]:>10.1f}  ({pipeline["workers"]} workers; '
                 f'{pipeline["times_training_rate"]:.0f} x the training step\'s rate)')
    lines.append(f'median of {cfg["bench_steps"]} timed steps after {cfg["bench_warmup"]} warm-up steps; load average '
                 f'{report["load_average_before"][0]:.2f} before, {report["load_average_after"][0]:.2f} after')
    if 'version' in report['pytorch']:
        lines.append(f'ratio: our step time over PyTorch {report["pytorch"]["version"]}\'s (the official model, float32 '
                     f'NCHW, eager), its steps timed between ours; below 1 is faster')
    else:
        lines.append(report['pytorch']['none'])
    lines.append('convolutions of the smallest maps as matrix products (src/models/small_map_conv.py): '
                 + ('on' if report['small_map_convs'] else 'off (--cpu_fast_conv false, or not on the CPU)'))
    return '\n'.join(lines)


def main():
    cfg = parse_config(__doc__, command='benchmark', entry_defaults={'batch_size': 32})
    check_output_dir(os.path.dirname(os.path.abspath(cfg.bench_output)), 'the folder of --bench_output')
    report = run_benchmark(cfg)
    print(format_report(report))
    write_json(cfg.bench_output, report)
    print(f'wrote {cfg.bench_output}', file=sys.stderr)


if __name__ == '__main__':
    run_main(main)

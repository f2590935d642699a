"""Run set-up shared by every entry point: which device, which execution mode, CPU tuning, and the
data-parallel group. Nothing else in the repository calls `mindspore.set_device` or `init()`.
"""
import logging
import os
from dataclasses import dataclass

from src.config import UsageError

# MindSpore's bundled oneDNN runs 3x3 convolutions through a reference kernel on AVX-512 CPUs, about
# 100x slower than its AVX2 JIT kernels, under every AVX-512 cap (AVX512_CORE, _VNNI, _BF16, AVX10_1_512).
# oneDNN reads this cap when it first runs a kernel.
CPU_ISA_CAP = 'AVX2'
ACCELERATORS = ('Ascend', 'GPU')


@dataclass(frozen=True)
class Device:
    """Where this process runs: the device target and its place in the data-parallel group."""
    target: str
    rank: int = 0
    group_size: int = 1

    @property
    def is_main(self):
        """The process that prints, saves checkpoints and writes result files."""
        return self.rank == 0


def _accelerator_available(target):
    import mindspore as ms
    backend = getattr(ms.device_context, target.lower())
    # Probing logs two warnings for every backend this build lacks; an absent backend is the normal case.
    logger = ms.log._get_logger()  # pylint: disable=protected-access
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return backend.is_available() and backend.device_count() > 0
    finally:
        logger.setLevel(level)


def resolve_target(requested):
    """'auto' becomes the first available of Ascend, GPU, CPU; an unavailable explicit choice is an error."""
    if requested == 'CPU':
        return 'CPU'
    if requested == 'auto':
        return next((target for target in ACCELERATORS if _accelerator_available(target)), 'CPU')
    if requested not in ACCELERATORS:
        raise UsageError(f'unknown device_target {requested!r}; use Ascend, GPU, CPU or auto')
    if not _accelerator_available(requested):
        raise UsageError(f'device_target {requested} is not available (no {requested} device, or this MindSpore '
                         f'build lacks its backend); use --device_target CPU or auto')
    return requested


def cap_cpu_isa():
    """Apply the oneDNN ISA cap unless the user chose one; must run before MindSpore's first CPU kernel."""
    os.environ.setdefault('ONEDNN_MAX_CPU_ISA', CPU_ISA_CAP)


def worker_cpus(cpus, local_rank, local_workers):
    """Worker `local_rank`'s equal share of `cpus` (sorted) among `local_workers` workers; one CPU, shared
    round-robin, when there are more workers than CPUs."""
    share = len(cpus) // local_workers
    if share == 0:
        return [cpus[local_rank % len(cpus)]]
    return cpus[local_rank * share:(local_rank + 1) * share]


def bind_data_parallel_worker():
    """Bind this data-parallel CPU worker to its own share of the machine's CPUs; returns the CPUs, or None when
    it leaves the binding as it is.

    MindSpore sizes its compute threads by the CPUs a process may use, so unbound workers each run one thread
    per CPU and N workers oversubscribe the machine N times: two msrun workers on 2 cores trained at ~430
    images/s unbound and ~520 with a core each (32 x 32, base width 16). Threads started from now on inherit
    the binding; MindSpore starts its compute threads with the device.
    msrun exports a worker's local rank as DEVICE_ID and the worker count as MS_WORKER_NUM; taken to share one
    host, as scripts/run_distribute_train_cpu.sh runs them. A process already bound to part of the machine
    (taskset, msrun --bind_core) keeps its binding.
    """
    local_rank, workers = os.environ.get('DEVICE_ID'), os.environ.get('MS_WORKER_NUM')
    cpus = sorted(os.sched_getaffinity(0))
    if local_rank is None or workers is None or int(workers) < 2 or len(cpus) < (os.cpu_count() or 0):
        return None
    share = worker_cpus(cpus, int(local_rank), int(workers))
    os.sched_setaffinity(0, share)
    return share


def cpu_settings():
    """The CPU tuning this process runs with, for reports."""
    return {'ONEDNN_MAX_CPU_ISA': os.environ.get('ONEDNN_MAX_CPU_ISA'), 'cpus': sorted(os.sched_getaffinity(0))}


def setup_device(cfg):
    """Set device, mode and seed for this process from cfg (device_target, device_id, mode, seed,
    run_distribute), joining the data-parallel group when asked. Writes the resolved target back to cfg."""
    import mindspore as ms

    target = resolve_target(cfg.device_target)
    if target == 'CPU':
        cap_cpu_isa()
        if cfg.run_distribute:
            bind_data_parallel_worker()
    ms.set_context(mode=ms.GRAPH_MODE if cfg.mode == 'graph' else ms.PYNATIVE_MODE)
    cfg.device_target = target
    ms.set_seed(cfg.seed)
    if not cfg.run_distribute:
        ms.set_device(target, cfg.device_id)
        return Device(target)
    return _join_data_parallel_group(target)


def _join_data_parallel_group(target):
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    # A rank-table launch names each process's device in DEVICE_ID; msrun assigns it from the local rank.
    device_id = os.environ.get('DEVICE_ID')
    ms.set_device(target, int(device_id) if device_id is not None else None)
    try:
        init()
    except RuntimeError as error:
        raise UsageError(f'--run_distribute needs a launcher (msrun, mpirun or a rank table) to start '
                         f'every worker: {str(error).splitlines()[0]}') from error
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    if target == 'CPU':
        # Gradient all-reduce fusion is off unless comm_fusion is set, and then the CPU backend all-reduces every
        # gradient on its own, a round trip per parameter. In buckets of up to 64 MB (the 'auto' size) two
        # workers on 2 cores went from ~380 to ~520 images/s (32 x 32, base width 16), to the same parameters
        # bit for bit.
        ms.set_auto_parallel_context(comm_fusion={'allreduce': {'mode': 'auto', 'config': None}})
    return Device(target, get_rank(), get_group_size())

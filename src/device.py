"""Run set-up shared by every entry point: which device, which execution mode, CPU tuning, and the
data-parallel group. Nothing else in the repository calls `mindspore.set_device` or `init()`.
"""
import logging
import os
from dataclasses import dataclass

from src.config import UsageError

# MindSpore's bundled oneDNN runs 3x3 convolutions through a reference kernel on AVX-512 CPUs, about
# 100x slower than its AVX2 JIT kernels. oneDNN reads this cap when it first runs a kernel.
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


def setup_device(cfg):
    """Set device, mode and seed for this process from cfg (device_target, device_id, mode, seed,
    run_distribute), joining the data-parallel group when asked. Writes the resolved target back to cfg."""
    import mindspore as ms

    target = resolve_target(cfg.device_target)
    if target == 'CPU':
        cap_cpu_isa()
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
    return Device(target, get_rank(), get_group_size())

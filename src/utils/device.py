"""Run set-up shared by every entry point: which device, which execution mode, CPU tuning, and the
data-parallel group. Nothing else in the repository calls `mindspore.set_device` or `init()`.

What a launcher tells each process it starts, through the environment: msrun sets MS_ROLE (MS_SCHED for its
scheduler, MS_WORKER for a worker), DEVICE_ID (the worker's index on its machine), MS_WORKER_NUM (the workers of
every machine together) and MS_TOPO_TIMEOUT (seconds the group may take to form); src/launch/ adds
LOCAL_WORKER_NUM, the workers on this machine, which msrun does not pass on.
"""
import ctypes
import logging
import os
import re
import signal
import sys
from dataclasses import dataclass

from src.utils.errors import UsageError, first_line

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


def local_worker_count():
    """The data-parallel workers on this machine: LOCAL_WORKER_NUM as src/launch/ sets it; 1 for a process it
    did not start."""
    return int(os.environ.get('LOCAL_WORKER_NUM', '1'))


def processes_sharing_cpus():
    """How many processes of this run share the CPUs this one may use: 1 once it is bound to a part of the
    machine (its own share: bind_data_parallel_worker, taskset, msrun --bind_core), else the data-parallel
    workers on this machine."""
    bound = len(os.sched_getaffinity(0)) < (os.cpu_count() or 0)
    return 1 if bound else local_worker_count()


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
    The share is among the workers of this machine (DEVICE_ID of LOCAL_WORKER_NUM), not of the whole run: with
    MS_WORKER_NUM, two machines of one worker each would leave half of each machine idle. A process already
    bound to part of the machine (taskset, msrun --bind_core) keeps its binding.
    """
    local_rank, workers = os.environ.get('DEVICE_ID'), local_worker_count()
    cpus = sorted(os.sched_getaffinity(0))
    if local_rank is None or workers < 2 or len(cpus) < (os.cpu_count() or 0):
        return None
    share = worker_cpus(cpus, int(local_rank), workers)
    os.sched_setaffinity(0, share)
    return share


PR_SET_PDEATHSIG = 1  # <sys/prctl.h>
# Set by src/launch/ in msrun's environment: msrun's pid, the parent of every process msrun starts.
LAUNCHER_PID = 'LAUNCHER_PID'


def exit_with_parent(parent):
    """Have the kernel kill this process when `parent` (the pid of the process that started it) ends, however it
    ends, and end now if it already has: msrun's workers and scheduler, and msrun under src/launch/, would
    otherwise train on as orphans after a launch killed with SIGKILL (msrun starts each worker in a session of its
    own, out of reach of the terminal's signals). Linux only; elsewhere nothing changes."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the request took hold
        os.kill(os.getpid(), signal.SIGKILL)


def exit_with_launcher():
    """For a process msrun started under src/launch/ (LAUNCHER_PID set): exit_with_parent(msrun). Called first
    thing, so that a launch killed at any moment, even while its workers start, leaves none behind."""
    if os.environ.get(LAUNCHER_PID, '').isdigit():
        exit_with_parent(int(os.environ[LAUNCHER_PID]))


def cpu_settings():
    """The CPU tuning this process runs with, for reports."""
    return {'ONEDNN_MAX_CPU_ISA': os.environ.get('ONEDNN_MAX_CPU_ISA'), 'cpus': sorted(os.sched_getaffinity(0))}


def setup_device(cfg):
    """Set device, mode and seed for this process from cfg (device_target, device_id, mode, seed,
    run_distribute), joining the data-parallel group when asked; the Device says which target it resolved
    (device_target auto) and the process's place in the group."""
    import mindspore as ms

    target = resolve_target(cfg.device_target)
    if target == 'CPU':
        cap_cpu_isa()
        if cfg.run_distribute:
            bind_data_parallel_worker()
    ms.set_context(mode=ms.GRAPH_MODE if cfg.mode == 'graph' else ms.PYNATIVE_MODE)
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
        reason = first_line(error)
        if 'MS_ROLE' not in os.environ:
            raise UsageError(f'--run_distribute needs a launcher (msrun, mpirun or a rank table) to start every '
                             f'worker: {reason}') from error
        leave_group_now(f'{os.path.basename(sys.argv[0])}: error: {group_failure(reason)}', 1)
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    if target == 'CPU':
        # Gradient all-reduce fusion is off unless comm_fusion is set, and then the CPU backend all-reduces every
        # gradient on its own, a round trip per parameter. In buckets of up to 64 MB (the 'auto' size) two
        # workers on 2 cores went from ~380 to ~520 images/s (32 x 32, base width 16), to the same parameters
        # bit for bit.
        ms.set_auto_parallel_context(comm_fusion={'allreduce': {'mode': 'auto', 'config': None}})
    return Device(target, get_rank(), get_group_size())


def leave_group_now(line, status):
    """Print `line` on stderr and end this process of a data-parallel group with `status` at once: on a normal exit
    MindSpore would first try to leave the group through a scheduler that may be gone with it, for 10 to 20 s."""
    sys.stdout.flush()
    sys.stderr.write(line + '\n')
    sys.stderr.flush()
    os._exit(status)  # pylint: disable=protected-access


def check_same_data(device, image_sets):
    """Raise UsageError on every rank of the group unless each of `image_sets` ({description: DataSplit, or None
    for a set not used}) lists the same images on every rank. The ranks cut their shards from these lists; on
    several machines each reads its own copy of the data, and copies that differ would overlap and leave gaps
    unnoticed."""
    import numpy as np

    import mindspore as ms
    from mindspore import ops

    # A row per rank, each rank filling its own: the CPU backend all-reduces by sum only, so a sum gathers the
    # rows. Image counts (below 2**24) and the digest in 16-bit pieces stay exact in float32.
    image_sets = {name: split for name, split in image_sets.items() if split is not None}
    row = []
    for split in image_sets.values():
        row += [split.total_images] + [int(split.listing[i:i + 4], 16) for i in range(0, len(split.listing), 4)]
    rows = np.zeros((device.group_size, len(row)), np.float32)
    rows[device.rank] = row
    rows = ops.AllReduce()(ms.Tensor(rows)).asnumpy()
    width = len(row) // len(image_sets)
    for index, name in enumerate(image_sets):
        columns = rows[:, index * width:(index + 1) * width]
        differing = [rank for rank in range(device.group_size) if not np.array_equal(columns[rank], columns[0])]
        if not differing:
            continue
        first, counts = differing[0], columns[:, 0].astype(int)
        how = (f'rank {first} has {counts[first]} images, rank 0 {counts[0]}' if counts[first] != counts[0] else
               f'rank {first} lists other files than rank 0 ({counts[0]} images each)')
        raise UsageError(f'the {name} differs between the machines: {how} (ranks that differ: {differing}); every '
                         f'machine needs the same files at the same path')


def group_failure(reason):
    """What a failed `init()` of a launched process means, in one line, from MindSpore's `reason`: the group did
    not form in time (for a worker, or msrun's scheduler, which runs this same program), or, for the scheduler,
    whose init() lasts the whole run, a worker stopped answering, which MindSpore names."""
    if reason.startswith('Failed to initialize distributed job cluster'):
        return (f'the data-parallel group did not form: {os.environ.get("MS_WORKER_NUM")} workers were to join within '
                f'{os.environ.get("MS_TOPO_TIMEOUT")} s (CLUSTER_TIMEOUT); every machine must start its launch within '
                f'that time with the same NNODES, MASTER_ADDR and MASTER_PORT and reach MASTER_ADDR:MASTER_PORT (a '
                f'machine that stopped says why on its console)')
    lost = re.search(r'worker (\d+) is the first one timed out', reason)
    if lost:
        reason = (f'worker {lost.group(1)} stopped answering (its process or machine stopped, or the network '
                  f'failed); see worker_{lost.group(1)}.log on its machine')
    return f'the data-parallel group failed: {reason}'

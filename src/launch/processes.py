"""msrun and the processes it starts for this machine: its command line and environment, the first worker's output
on the console while they run, and all of them ended together, on a failure, a signal or this process's end."""
import os
import signal
import subprocess
import sys
import time

from src.engine.training_inputs import LAUNCH_HOLDS_OUTPUT_DIR
from src.launch.logs import LogFollower, SchedulerWatch, failure_report


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# msrun, run as a child that dies with this process (src.utils.device.exit_with_parent), and tells the processes it
# starts its pid, so that they die with it (src.utils.device.exit_with_launcher). The repository goes first on the path:
# a `src` folder in the working directory must not shadow it.
MSRUN = ('import os, sys; sys.path.insert(0, {repo!r}); from src.utils.device import LAUNCHER_PID, exit_with_parent; '
         'exit_with_parent({launcher}); os.environ[LAUNCHER_PID] = str(os.getpid()); '
         'from mindspore.parallel.cluster.run import main; sys.argv[0] = "msrun"; sys.exit(main())')
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def msrun_command(launch, log_dir, train_options, rank_table=None):
    table = [f'--rank_table_file={rank_table}'] if rank_table else []
    return [sys.executable, '-c', MSRUN.format(repo=REPO, launcher=os.getpid()), f'--worker_num={launch.total_workers}',
            f'--local_worker_num={launch.workers}',
            f'--master_addr={launch.master_addr}', f'--master_port={launch.master_port}',
            f'--node_rank={launch.node_rank}', f'--log_dir={log_dir}', '--join=True',
            f'--cluster_time_out={launch.cluster_timeout}',
            # msrun would copy every worker's log onto the console; this process shows one, filtered.
            '--tail_worker_log=-1000', *table, os.path.join(REPO, 'train.py'), *train_options]


def msrun_environment(launch, output_dir):
    environ = dict(os.environ, LOCAL_WORKER_NUM=str(launch.workers), PYTHONUNBUFFERED='1')
    environ[LAUNCH_HOLDS_OUTPUT_DIR] = output_dir
    # msrun starts `python`, the first on PATH: the one running this.
    environ['PATH'] = os.pathsep.join([os.path.dirname(sys.executable), environ.get('PATH', '')])
    if launch.devices:
        environ['ASCEND_RT_VISIBLE_DEVICES'] = ','.join(map(str, launch.devices))
    return environ


class Stopped(Exception):
    """The launch received a signal to stop."""


def _stop(signum, _frame):
    raise Stopped(signum)


def run(prog, launch, *, train_options, output_dir, rank_table=None):
    """Start msrun for this machine, show the first local worker's output, and return the exit status."""
    log_dir = os.path.join(output_dir, 'logs')
    os.makedirs(log_dir, exist_ok=True)
    msrun_log = os.path.join(log_dir, f'msrun_node{launch.node_rank}.log')
    ranks = f'rank {launch.first_rank}' if launch.workers == 1 else \
        f'ranks {launch.first_rank}-{launch.first_rank + launch.workers - 1}'
    print(f'[train] machine {launch.node_rank} of {launch.nnodes}: {ranks} of {launch.total_workers}, scheduler '
          f'{launch.master_addr}:{launch.master_port}; logs in {log_dir}', flush=True)
    follower = LogFollower(os.path.join(log_dir, f'worker_{launch.first_rank}.log'))
    scheduler = SchedulerWatch(os.path.join(log_dir, 'scheduler.log')) if launch.node_rank == 0 else None
    msrun = None
    for signum in SIGNALS:
        signal.signal(signum, _stop)
    try:
        with open(msrun_log, 'w', encoding='utf-8') as log:
            # A session of its own: a Ctrl-C reaches this process only, which stops msrun and so all it started.
            msrun = subprocess.Popen(msrun_command(launch, log_dir, train_options, rank_table), stdout=log,
                                     stderr=subprocess.STDOUT, env=msrun_environment(launch, output_dir), start_new_session=True)
        while msrun.poll() is None:
            follower.show_new_lines()
            cannot_listen = scheduler and scheduler.cannot_listen(prog, launch.master_port)
            if cannot_listen:  # the workers would wait for it until CLUSTER_TIMEOUT
                _stop_msrun(msrun)
                print(cannot_listen, file=sys.stderr, flush=True)
                print(f'[train] logs of this machine in {log_dir}', file=sys.stderr, flush=True)
                return 1
            time.sleep(0.5)
    except Stopped as stop:
        if msrun:
            _stop_msrun(msrun)
        print(f'[train] stopped by {signal.Signals(stop.args[0]).name}; this machine\'s processes are ended',
              file=sys.stderr, flush=True)
        return 128 + stop.args[0]
    finally:
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
    follower.show_new_lines()
    follower.close()
    if msrun.returncode == 0:
        return 0
    for line in failure_report(prog, launch, log_dir=log_dir, msrun_log=msrun_log, status=msrun.returncode):
        print(line, file=sys.stderr, flush=True)
    return 1


def _descendants(pid):
    """The processes `pid` started, and those they started, from /proc."""
    children = {}
    for entry in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{entry}/stat', encoding='utf-8') as handle:
                parent = int(handle.read().rsplit(') ', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        children.setdefault(parent, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), ()):
            found.append(child)
            pending.append(child)
    return found


def _stop_msrun(msrun):
    """End msrun's workers and scheduler, then msrun, as msrun itself does on Ctrl-C (SIGKILL), all at once (msrun
    alone would take its processes with it, src.utils.device.exit_with_parent, but only once it has ended)."""
    for pid in _descendants(msrun.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    msrun.kill()
    msrun.wait()

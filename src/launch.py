"""This machine's part of a data-parallel training run, started through msrun (MindSpore's launcher): the
launch settings and train.py's own input checks first, then msrun, this machine's first worker's output on
the console, and, when the run fails, the error that caused it as the first line of the report.

  python -m src.launch --prog NAME --device_target TARGET (--workers N | --rank_table FILE) -- TRAIN.PY OPTIONS

scripts/run_distribute_train*.sh run it. Where this machine stands in the run comes from the environment,
under torchrun's names:
  NNODES           machines in the run: 1 by default (with a rank table: its server count)
  NODE_RANK        this machine's index, 0 .. NNODES-1: 0 by default (with a rank table: the server whose
                   server_id is an address of this machine)
  MASTER_ADDR      machine 0's address, where msrun runs its scheduler: 127.0.0.1 on one machine; needed for
                   several (with a rank table: the first server's server_id)
  MASTER_PORT      the scheduler's port: 8118 (msrun's own default) across machines; on one machine a free one
                   below the kernel's ephemeral ports, which an outgoing connection could take first
  CLUSTER_TIMEOUT  seconds within which the workers of every machine must have joined: 120 across machines
                   (MindSpore's workers can take 25 s and more to register with the scheduler even on an
                   idle network; raise it when the machines start further apart), msrun's 600 on one machine,
                   where msrun itself sees a worker fail
Every machine runs the same command and settings except NODE_RANK. --workers (the scripts' WORKER_NUM or
DEVICE_NUM) is the number of workers on this machine, the same on every machine; ranks
NODE_RANK * workers .. (NODE_RANK + 1) * workers - 1 run here, as msrun numbers them. A rank table gives each
server its devices and their ranks; msrun numbers a server's devices in table order, so the table's ranks
must follow that order, and its device ids reach the workers through ASCEND_RT_VISIBLE_DEVICES.

Everything is checked before any process starts, each problem reported in one line with exit status 2: the
settings, train.py's own checks, and whether the machine holds the workers (check_machine_holds). On machine 0
this process then holds OUTPUT_DIR for the run (train.py's rule: another run into it stops at once). Logs:
OUTPUT_DIR/logs/worker_<rank>.log for each worker, scheduler.log on machine 0, msrun_node<k>.log for msrun
itself. A failing worker stops this machine's others at once (msrun) and the other machines' within about
30 s (MindSpore's heartbeat); a machine that does not join stops the others after CLUSTER_TIMEOUT. However
this process ends, even by SIGKILL, msrun and every process it started end with it: each asks the kernel to
kill it when its parent ends, first thing (src.device.exit_with_parent).
"""
import argparse
import ast
import ipaddress
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from src.config import parse_config
from src.errors import OneLineParser, UsageError
from src.training_inputs import LAUNCH_HOLDS_OUTPUT_DIR, check_inputs, claim_output

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER_TIMEOUT_ONE_MACHINE, CLUSTER_TIMEOUT_MACHINES = 600, 120
MULTI_MACHINE_PORT = 8118
# A free MASTER_PORT is picked between these (see free_port): above msrun's default and the ports its workers
# take from 8118 up, below the kernel's ephemeral range.
EPHEMERAL_PORTS = '/proc/sys/net/ipv4/ip_local_port_range'
LOWEST_PICKED_PORT, PORT_PICKS = 20000, 1000
# msrun, run as a child that dies with this process (src.device.exit_with_parent), and tells the processes it
# starts its pid, so that they die with it (src.device.exit_with_launcher). The repository goes first on the path:
# a `src` folder in the working directory must not shadow it.
MSRUN = ('import os, sys; sys.path.insert(0, {repo!r}); from src.device import LAUNCHER_PID, exit_with_parent; '
         'exit_with_parent({launcher}); os.environ[LAUNCHER_PID] = str(os.getpid()); '
         'from mindspore.parallel.cluster.run import main; sys.argv[0] = "msrun"; sys.exit(main())')
# MindSpore's own log records ("[WARNING] DISTRIBUTED(123,7f...,python):..."): kept in the logs, not shown.
MINDSPORE_RECORD = re.compile(r'^\[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] [A-Z_]+\(\d+[,:]')
# The error lines of a log: an entry point's own ("train.py: error: ..."), or the last line of a traceback.
ENTRY_POINT_ERROR = re.compile(r'^[\w.-]+\.py: ')
INTERRUPTED = re.compile(r'^[\w.-]+\.py: interrupted\b')  # a reaction to a signal, e.g. MindSpore's on a lost peer
TRACEBACK_END = re.compile(r'^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(: |$)')
# What msrun's scheduler logs when another program holds MASTER_PORT (taken after the launch checked it).
SCHEDULER_BIND_FAILED = re.compile(r'Failed to call bind, url: (?P<url>\S+) (?P<reason>.+)$')
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MAX_NODES = 4096  # far beyond any run; MindSpore itself fails on counts past a 32-bit integer
# What a machine can hold. A worker shares a CPU with at most WORKERS_PER_CPU - 1 others (more only slow every one
# down and end in timeouts), and takes at least WORKER_MEMORY_MIB: the peak resident memory of a small data-parallel
# worker (the network at base width 16, 32x32 images, batch 32: 993 and 1,011 MiB for the two workers of a CPU
# run), more with wider networks, larger images and batches. msrun and, on machine 0, its scheduler (a train.py
# process that stops after the group forms) took 398 and 402 MiB.
WORKERS_PER_CPU = 4
WORKER_MEMORY_MIB, MSRUN_MEMORY_MIB, SCHEDULER_MEMORY_MIB = 1000, 400, 400


@dataclass(frozen=True)
class Launch:
    """This machine's part of the run."""
    nnodes: int
    node_rank: int
    master_addr: str
    master_port: int
    workers: int  # on this machine
    cluster_timeout: int
    devices: tuple = ()  # with a rank table: this server's device ids, in rank order

    @property
    def total_workers(self):
        return self.nnodes * self.workers

    @property
    def first_rank(self):
        return self.node_rank * self.workers


@dataclass(frozen=True)
class Server:
    """A server of an HCCL rank table: its server_id, and its devices' ids and ranks in rank order."""
    server_id: str
    devices: tuple
    ranks: tuple


def _integer(environ, name, *, default, low, high=None):
    text = environ.get(name, '').strip()
    if not text:
        return default
    if not re.fullmatch(r'-?\d+', text):
        raise UsageError(f'{name} must be a whole number, got {text!r}')
    value = int(text)
    if value < low or (high is not None and value > high):
        allowed = f'{low}..{high}' if high is not None else f'{low} or more'
        raise UsageError(f'{name} must be {allowed}, got {value}')
    return value


def read_rank_table(path):
    """The servers of an HCCL rank table (JSON: server_list[].server_id, .device[].device_id and .rank_id), in
    table order; UsageError if it is not one."""
    try:
        with open(path, encoding='utf-8') as handle:
            table = json.load(handle)
        servers = []
        for server in table['server_list']:
            devices = sorted(server['device'], key=lambda device: int(device['rank_id']))
            servers.append(Server(str(server['server_id']), tuple(int(device['device_id']) for device in devices),
                                  tuple(int(device['rank_id']) for device in devices)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(f'{path} is not an HCCL rank table (JSON with server_list[].server_id and '
                         f'server_list[].device[].device_id and rank_id): {type(error).__name__} {error}') from error
    if not servers or not all(server.devices for server in servers):
        raise UsageError(f'rank table {path} lists no devices, or a server without devices')
    per_server = len(servers[0].devices)
    for index, server in enumerate(servers):
        if len(server.devices) != per_server:
            raise UsageError(f'rank table {path}: server {server.server_id} has {len(server.devices)} devices and '
                             f'server {servers[0].server_id} {per_server}; msrun starts as many workers on every '
                             f'machine')
        expected = tuple(range(index * per_server, (index + 1) * per_server))
        if server.ranks != expected:
            raise UsageError(f'rank table {path}: server {server.server_id} (number {index} in server_list) has '
                             f'ranks {list(server.ranks)}, but msrun numbers its devices '
                             f'{expected[0]}..{expected[-1]}; list the servers in rank order with consecutive ranks')
    return servers


def local_addresses():
    """This machine's interface addresses, from `ip -j addr` as msrun reads them: msrun starts its scheduler on
    the machine that holds MASTER_ADDR."""
    try:
        listing = subprocess.run(['ip', '-j', 'addr'], capture_output=True, text=True, check=True).stdout
        return {ipaddress.ip_address(address['local'].split('%')[0])
                for interface in json.loads(listing) for address in interface.get('addr_info', ())
                if 'local' in address}
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError) as error:
        raise UsageError(f'cannot list this machine\'s addresses with `ip -j addr` ({error}); msrun needs it as '
                         f'well: install iproute2') from error


def resolve(name, what):
    try:
        return ipaddress.ip_address(socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)[0][4][0].split('%')[0])
    except (OSError, ValueError) as error:
        raise UsageError(f'{what} {name} does not resolve to an address ({error}); give an IP address or a host '
                         f'name every machine resolves') from error


def is_local(address, addresses):
    return address.is_loopback or address in addresses


def this_server(servers, environ):
    """(index, server) of this machine in a multi-server rank table: NODE_RANK names it, else the server whose
    server_id is one of this machine's addresses."""
    if environ.get('NODE_RANK', '').strip():
        index = _integer(environ, 'NODE_RANK', default=0, low=0, high=len(servers) - 1)
        return index, servers[index]
    addresses = local_addresses()
    mine = [(index, server) for index, server in enumerate(servers)
            if _server_address(server) is not None and _server_address(server) in addresses]
    if len(mine) != 1:
        found = 'none' if not mine else ', '.join(server.server_id for _, server in mine)
        raise UsageError(f'the rank table\'s servers are {", ".join(server.server_id for server in servers)}; of '
                         f'them {found} is an address of this machine: set NODE_RANK to this server\'s position in '
                         f'server_list (0 for the first)')
    return mine[0]


def _server_address(server):
    try:
        return ipaddress.ip_address(server.server_id)
    except ValueError:
        return None


def check_port_free(address, port):
    """UsageError if `port` is taken on this machine's `address` (the scheduler could not listen there)."""
    with socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((str(address), port))
        except OSError as error:
            raise UsageError(f'MASTER_PORT {port} cannot be used on {address} ({error.strerror}); choose another '
                             f'port, the same on every machine') from error


def free_port(address, taken=()):
    """A port no program holds on `address` (nor in `taken`), picked at random below the kernel's ephemeral range,
    where it picks the local port of every outgoing connection: one picked inside that range could be given to a
    connection (of any program, MindSpore's own included) between this check and msrun's scheduler binding it."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    for _ in range(PORT_PICKS):
        port = random.randrange(LOWEST_PICKED_PORT, max(_first_ephemeral_port(), LOWEST_PICKED_PORT + PORT_PICKS))
        if port in taken:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((str(address), port))
            except OSError:
                continue
        return port
    raise UsageError(f'found no free port on {address} in {PORT_PICKS} tries; set MASTER_PORT to one')


def _first_ephemeral_port():
    try:
        with open(EPHEMERAL_PORTS, encoding='utf-8') as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def plan_launch(environ, workers=None, rank_table=None):
    """This machine's Launch from the environment and either its worker count or a rank table; UsageError for
    settings that cannot work, before anything starts."""
    devices = ()
    default_master = '127.0.0.1'
    if rank_table is not None:
        servers = read_rank_table(rank_table)
        nnodes = _integer(environ, 'NNODES', default=len(servers), low=1, high=MAX_NODES)
        if nnodes != len(servers):
            raise UsageError(f'NNODES is {nnodes} but rank table {rank_table} lists {len(servers)} servers')
        node_rank, server = this_server(servers, environ) if nnodes > 1 else (0, servers[0])
        workers, devices = len(server.devices), server.devices
        default_master = servers[0].server_id if nnodes > 1 else default_master
    else:
        nnodes = _integer(environ, 'NNODES', default=1, low=1, high=MAX_NODES)
        node_rank = _integer(environ, 'NODE_RANK', default=0, low=0)
        if node_rank >= nnodes:
            raise UsageError(f'NODE_RANK {node_rank} is outside 0..{nnodes - 1} (NNODES {nnodes}): number the '
                             f'machines from 0, machine 0 being MASTER_ADDR')
    master_name = environ.get('MASTER_ADDR', '').strip() or None
    if nnodes > 1 and master_name is None and rank_table is None:
        raise UsageError(f'NNODES is {nnodes}: set MASTER_ADDR to the address of machine 0 (NODE_RANK 0), the same '
                         f'on every machine')
    master_name = master_name or default_master
    master = resolve(master_name, 'MASTER_ADDR')
    if nnodes > 1 and master.is_loopback:
        raise UsageError(f'MASTER_ADDR {master_name} is a loopback address, which the other machines cannot reach: '
                         f'set it to machine 0\'s address on the network they share')
    addresses = local_addresses() if nnodes > 1 or not master.is_loopback else set()
    if node_rank == 0 and not is_local(master, addresses):
        raise UsageError(f'MASTER_ADDR {master_name} ({master}) is not an address of this machine, but NODE_RANK 0 '
                         f'runs msrun\'s scheduler there: run NODE_RANK 0 on {master_name}, or set MASTER_ADDR to '
                         f'this machine\'s address')
    if node_rank > 0 and is_local(master, addresses):
        raise UsageError(f'MASTER_ADDR {master_name} ({master}) is an address of this machine, but NODE_RANK '
                         f'{node_rank} is not machine 0 and msrun would start a second scheduler here: set '
                         f'MASTER_ADDR to the address of machine 0')
    default_port = MULTI_MACHINE_PORT if nnodes > 1 else None
    port = _integer(environ, 'MASTER_PORT', default=default_port, low=1024, high=65535)
    if node_rank == 0:
        if port is None:
            port = free_port(master)
        else:
            check_port_free(master, port)
    timeout = _integer(environ, 'CLUSTER_TIMEOUT',
                       default=CLUSTER_TIMEOUT_MACHINES if nnodes > 1 else CLUSTER_TIMEOUT_ONE_MACHINE, low=1)
    return Launch(nnodes=nnodes, node_rank=node_rank, master_addr=str(master), master_port=port, workers=workers,
                  cluster_timeout=timeout, devices=devices)


def available_memory_mib():
    """MemAvailable of /proc/meminfo in MiB: what new processes can take without pushing others out."""
    with open('/proc/meminfo', encoding='utf-8') as handle:
        for line in handle:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) // 1024
    raise OSError('/proc/meminfo has no MemAvailable')


def check_machine_holds(workers, cpus, memory_mib, scheduler):
    """UsageError, before any process starts, when this machine cannot hold `workers` data-parallel workers beside
    msrun (and its `scheduler` on machine 0): more than WORKERS_PER_CPU a CPU of the `cpus` this process may use, or
    more than `memory_mib` of available memory holds at WORKER_MEMORY_MIB each."""
    by_cpus = WORKERS_PER_CPU * cpus
    by_memory = (memory_mib - MSRUN_MEMORY_MIB - (SCHEDULER_MEMORY_MIB if scheduler else 0)) // WORKER_MEMORY_MIB
    if workers <= min(by_cpus, by_memory):
        return
    fits = max(min(by_cpus, by_memory), 0)
    raise UsageError(f'{workers} workers do not fit this machine, which holds at most {fits}: it has {cpus} CPUs '
                     f'(up to {WORKERS_PER_CPU} workers a CPU: {by_cpus}) and {memory_mib / 1024:.1f} GiB of memory '
                     f'available (a worker takes {WORKER_MEMORY_MIB / 1024:.1f} GiB or more: {max(by_memory, 0)}); '
                     f'start at most {fits} workers on each machine, or more machines')


def train_description():
    """train.py's docstring, for the --help of its options given to a launch: read from the file, as the library
    does not import a command."""
    with open(os.path.join(REPO, 'train.py'), encoding='utf-8') as handle:
        return ast.get_docstring(ast.parse(handle.read()), clean=False)


def check_training_inputs(train_options, launch):
    """train.py's settings and its own checks of the folders and files they name, as train.py runs them; on machine
    0, where rank 0 writes the results, the output folder is then held for the run by this process."""
    cfg = parse_config(train_description(), train_options, command='train', prog='train.py')
    check_inputs(cfg)
    if launch.node_rank == 0:
        claim_output(cfg)
    return cfg


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


class SchedulerWatch:
    """Reads msrun's scheduler log as it grows for the sign that the scheduler could not listen on MASTER_PORT,
    which the workers would otherwise only report as a group that did not form, after CLUSTER_TIMEOUT."""

    def __init__(self, path):
        self.path = path
        self.read = 0

    def cannot_listen(self, prog, port):
        """The error line if the scheduler failed to bind its port, else None."""
        if not os.path.exists(self.path):
            return None
        with open(self.path, 'rb') as handle:
            handle.seek(self.read)
            data = handle.read()
        complete = data.rfind(b'\n') + 1  # a line still being written is read next time
        self.read += complete
        for line in data[:complete].decode('utf-8', errors='replace').splitlines():
            failed = SCHEDULER_BIND_FAILED.search(line)
            if failed:
                return (f'{prog}: error: msrun\'s scheduler cannot listen on {failed["url"]} ({failed["reason"]}): '
                        f'another program took MASTER_PORT {port} after the launch checked it; start again, or set '
                        f'MASTER_PORT to a free port, the same on every machine')
        return None


class LogFollower:
    """Shows the lines a log file gains, without MindSpore's log records; an error the worker reports (its
    entry point's error line, a traceback and what follows it) is left to the failure report."""

    def __init__(self, path):
        self.path = path
        self.handle = None
        self.partial = ''
        self.in_error = False

    def show_new_lines(self):
        if self.handle is None:
            if not os.path.exists(self.path):
                return
            self.handle = open(self.path, encoding='utf-8', errors='replace')  # pylint: disable=consider-using-with
        text = self.partial + self.handle.read()
        *lines, self.partial = text.split('\n')
        for line in lines:
            self.in_error = self.in_error or line.startswith('Traceback (most recent call last)')
            if not (self.in_error or MINDSPORE_RECORD.match(line) or ENTRY_POINT_ERROR.match(line)):
                print(line, flush=True)

    def close(self):
        if self.handle:
            self.handle.close()


def _read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding='utf-8', errors='replace') as handle:
        return [line for line in handle.read().splitlines() if not MINDSPORE_RECORD.match(line)]


def _traceback_error(lines, index):
    """The exception line at `index`; MindSpore puts its message on the lines after an empty one, between rules."""
    if lines[index].rstrip().endswith(':'):
        for line in lines[index + 1:]:
            if line.strip() and not line.startswith('-'):
                return f'{lines[index].strip()} {line.strip()}'
    return lines[index]


def first_error(worker_logs, scheduler_log):
    """(line, path) of the error that most likely caused a failure: an entry point's own error line in a worker's
    log, else the scheduler's (it names the worker that stopped answering), else the end of a worker's traceback,
    else a worker's report that a signal interrupted it (both often consequences of another's failure); None if
    there is none."""
    logs = {path: _read_lines(path) for path in [*worker_logs, scheduler_log]}
    for paths, matches in ((worker_logs, lambda line: ENTRY_POINT_ERROR.match(line) and not INTERRUPTED.match(line)),
                           ([scheduler_log], ENTRY_POINT_ERROR.match), (worker_logs, TRACEBACK_END.match),
                           (worker_logs, INTERRUPTED.match)):
        for path in paths:
            for index, line in enumerate(logs[path]):
                if matches(line):
                    return _traceback_error(logs[path], index), path
    return None


def failure_report(prog, launch, *, log_dir, msrun_log, status):
    """The lines that explain a failed run: the error first, then where to look."""
    workers = [os.path.join(log_dir, f'worker_{rank}.log')
               for rank in range(launch.first_rank, launch.first_rank + launch.workers)]
    found = first_error(workers, os.path.join(log_dir, 'scheduler.log'))
    if found:
        return [found[0], f'[train] the run failed (from {found[1]}); logs of this machine in {log_dir}']
    with open(msrun_log, encoding='utf-8', errors='replace') as handle:
        msrun_output = handle.read()
    code = re.search(r'Worker process \d+ exit with exception\. Error code: (-?\d+)', msrun_output)
    if code:
        cause = int(code.group(1))
        how = f'was killed by signal {-cause}' if cause < 0 else f'ended with exit status {cause}'
        return [f'{prog}: error: a worker of this machine {how} without an error message (out of memory?)',
                f'[train] logs of this machine in {log_dir}']
    return [f'{prog}: error: msrun ended with status {status}; the end of {msrun_log}:',
            *msrun_output.strip().splitlines()[-10:]]


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
    alone would take its processes with it, src.device.exit_with_parent, but only once it has ended)."""
    for pid in _descendants(msrun.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    msrun.kill()
    msrun.wait()


def parse_arguments(argv):
    parser = OneLineParser(prog='src.launch', description=__doc__.split('\n')[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--prog', default='src.launch', help='the name errors are reported under')
    parser.add_argument('--device_target', required=True, choices=('Ascend', 'GPU', 'CPU'))
    count = parser.add_mutually_exclusive_group(required=True)
    count.add_argument('--workers', type=int, help='workers on this machine')
    count.add_argument('--rank_table', help='HCCL rank table (Ascend)')
    parser.add_argument('train_options', nargs=argparse.REMAINDER, help='-- then train.py options')
    args = parser.parse_args(argv)
    if args.train_options[:1] == ['--']:
        args.train_options = args.train_options[1:]
    return args


def main(argv=None):
    args = parse_arguments(argv)
    train_options = [*args.train_options, '--run_distribute', 'true', '--device_target', args.device_target]
    try:
        launch = plan_launch(os.environ, args.workers, args.rank_table)
        check_machine_holds(launch.workers, len(os.sched_getaffinity(0)), available_memory_mib(),
                            scheduler=launch.node_rank == 0)
    except UsageError as error:
        sys.stderr.write(f'{args.prog}: error: {error}\n')
        return 2
    try:
        cfg = check_training_inputs(train_options, launch)
    except UsageError as error:
        sys.stderr.write(f'train.py: error: {error}\n')
        return 2
    output_dir = os.path.abspath(cfg.output_dir)
    return run(args.prog, launch, train_options=[*train_options, '--output_dir', output_dir], output_dir=output_dir,
               rank_table=args.rank_table)


if __name__ == '__main__':
    sys.exit(main())

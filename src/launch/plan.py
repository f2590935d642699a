"""A launch planned before any process starts: this machine's place in the run from the environment (NNODES,
NODE_RANK, MASTER_ADDR, MASTER_PORT, CLUSTER_TIMEOUT) or an HCCL rank table, the scheduler's port, and whether the
machine holds its workers; each problem a one-line UsageError."""
import ipaddress
import json
import random
import re
import socket
import subprocess
from dataclasses import dataclass

from src.utils.errors import UsageError


CLUSTER_TIMEOUT_ONE_MACHINE, CLUSTER_TIMEOUT_MACHINES = 600, 120
MULTI_MACHINE_PORT = 8118
# A free MASTER_PORT is picked between these (see free_port): above msrun's default and the ports its workers
# take from 8118 up, below the kernel's ephemeral range.
EPHEMERAL_PORTS = '/proc/sys/net/ipv4/ip_local_port_range'
LOWEST_PICKED_PORT, PORT_PICKS = 20000, 1000
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

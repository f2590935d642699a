"""Data parallel across machines, simulated on this host: "machine 1" runs in a network namespace of its own,
joined to this one by a virtual Ethernet pair. (msrun starts its scheduler on every machine that holds
MASTER_ADDR, so two launches sharing one loopback would both start one.) Two launches of
scripts/run_distribute_train_cpu.sh, NODE_RANK 0 here and 1 there, one worker each: they train like one machine
with two workers, and when one machine fails every machine stops within a minute, the error first, leaving no
process behind. Needs root and iproute2 (`ip netns`), as CI has; skipped otherwise."""
import ipaddress
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import REPO, data_parallel_command, parameter_digests, script_environment
from src.launch.plan import free_port
from test_launch import processes_mentioning

pytestmark = pytest.mark.slow

# Addresses for network-device testing (RFC 2544): one /30 per test run, picked by process id, so that
# concurrent runs do not collide.
TEST_RANGE = ipaddress.ip_network('198.18.0.0/15')
FAILURE_DEADLINE = 60
MISSING_TIMEOUT = 10


def ip(*args):
    return subprocess.run(['ip', *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope='module')
def machine_1():
    """(namespace name, machine 0's address, machine 1's address): a network namespace for machine 1, linked to
    this host, removed afterwards with anything still running in it."""
    if os.geteuid() != 0 or shutil.which('ip') is None:
        pytest.skip('needs root and iproute2 to create a network namespace')
    name = f'bam{os.getpid()}'
    subnet = TEST_RANGE.network_address + 4 * (os.getpid() % (TEST_RANGE.num_addresses // 4))
    here, there = str(subnet + 1), str(subnet + 2)
    steps = [('netns', 'add', name),
             ('link', 'add', f'{name}a', 'type', 'veth', 'peer', 'name', f'{name}b'),
             ('link', 'set', f'{name}b', 'netns', name),
             ('addr', 'add', f'{here}/30', 'dev', f'{name}a'),
             ('link', 'set', f'{name}a', 'up'),
             ('netns', 'exec', name, 'ip', 'addr', 'add', f'{there}/30', 'dev', f'{name}b'),
             ('netns', 'exec', name, 'ip', 'link', 'set', f'{name}b', 'up'),
             ('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up')]
    try:
        for step in steps:
            result = ip(*step)
            if result.returncode:
                pytest.skip(f'cannot set up a network namespace (ip {" ".join(step)}: {result.stderr.strip()})')
        yield name, here, there
    finally:
        for pid in ip('netns', 'pids', name).stdout.split():
            os.kill(int(pid), signal.SIGKILL)
        ip('netns', 'del', name)
        ip('link', 'del', f'{name}a')  # gone with the namespace already, unless that failed


def start(machine, node_rank, master, port, command, output, cpu=None, **environment):
    """One machine's launch (in machine 1's namespace for node_rank 1), its output in output.{out,err}, in a
    process group of its own; with `cpu`, bound to that CPU, a machine of one CPU."""
    prefix = ['ip', 'netns', 'exec', machine] if node_rank else []
    if cpu is not None:
        prefix += ['taskset', '-c', str(cpu)]
    environ = script_environment(NNODES='2', NODE_RANK=str(node_rank), MASTER_ADDR=master, MASTER_PORT=str(port),
                                 **environment)
    with open(f'{output}.out', 'w', encoding='utf-8') as out, open(f'{output}.err', 'w', encoding='utf-8') as err:
        process = subprocess.Popen([*prefix, *command], cwd=REPO, stdout=out, stderr=err, env=environ,
                                   start_new_session=True)
    process.started = time.monotonic()
    process.output = output
    process.watcher = threading.Thread(target=_note_end, args=(process,), daemon=True)
    process.watcher.start()
    return process


def _note_end(process):
    process.wait()
    process.ended = time.monotonic()


def finish(process, timeout=300):
    """(exit status, seconds from start to end, stdout, stderr lines) once the launch ends."""
    process.watcher.join(timeout)
    assert not process.watcher.is_alive(), f'{process.output} still running after {timeout} s'
    seconds = process.ended - process.started
    with open(f'{process.output}.out', encoding='utf-8') as out, open(f'{process.output}.err', encoding='utf-8') as err:
        return process.returncode, seconds, out.read(), err.read().splitlines()


def _text(path):
    return path.read_text() if path.exists() else ''


def failed_launch(rank, status, stdout, stderr, output):
    """What a failed launch of machine `rank` printed, then the end of each of its logs: what a CI log needs to show
    why it failed."""
    logs = sorted((output / 'logs').glob('*.log')) if (output / 'logs').is_dir() else []
    ends = ''.join(f'\n--- end of {log.name}:\n' + '\n'.join(log.read_text(errors='replace').splitlines()[-15:])
                   for log in logs)
    return f'machine {rank} exited {status}\n--- stdout (end):\n{stdout[-1500:]}\n--- stderr:\n' + \
        '\n'.join(stderr) + ends


needs_two_cpus = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason='needs 2 CPUs, one per machine')


@needs_two_cpus
def test_two_machines_train_like_one_machine_with_two_workers(machine_1, two_worker_run, parallel_set, tmp_path):
    machine, here, _ = machine_1
    port = free_port(ipaddress.ip_address(here))
    # Each machine gets one CPU, as each worker of the one-machine run does: the same threads and data-pipeline
    # workers, hence the same sums in the same order.
    launches = [start(machine, rank, here, port, data_parallel_command(1, parallel_set, tmp_path / f'machine{rank}'),
                      tmp_path / f'machine{rank}', cpu=rank) for rank in (0, 1)]
    results = [finish(process) for process in launches]
    for rank, (status, _, stdout, stderr) in enumerate(results):
        if status != 0:
            pytest.fail(failed_launch(rank, status, stdout, stderr, tmp_path / f'machine{rank}'))
    digests = {**parameter_digests(tmp_path / 'machine0'), **parameter_digests(tmp_path / 'machine1')}
    assert sorted(digests) == [0, 1] and len(digests[0]) == 1 and digests[0] == digests[1]
    one_machine_dir, one_machine = two_worker_run
    assert one_machine.returncode == 0, one_machine.stderr
    assert parameter_digests(one_machine_dir)[0] == digests[0]  # bit for bit
    # Machine 0 holds rank 0: its console shows the run, it writes checkpoints and metrics; machine 1 only logs.
    assert 'epoch 1/1 done' in results[0][2] and f'rank 1 parameter digest {digests[1][0]}' in results[1][2]
    assert (tmp_path / 'machine0' / 'train_resnet50_bam_imagenet_best.ckpt').is_file()
    assert sorted(os.listdir(tmp_path / 'machine1')) == ['logs']
    assert sorted(os.listdir(tmp_path / 'machine1' / 'logs')) == ['msrun_node1.log', 'worker_1.log']


def test_a_machine_that_fails_stops_every_machine_within_a_minute(machine_1, demo_set, parallel_set, tmp_path):
    """Three runs of two machines at once: machine 1's launch killed during training; machine 1's data path
    missing; machine 1's copy of the train set short of one image."""
    machine, here, _ = machine_1
    short = tmp_path / 'short_copy'
    shutil.copytree(parallel_set, short)
    first_class = sorted(os.listdir(short / 'train'))[0]
    os.remove(short / 'train' / first_class / sorted(os.listdir(short / 'train' / first_class))[0])

    ports = []

    def pair(name, data, machine_1_data, *extra, **environment):
        port = free_port(ipaddress.ip_address(here), taken=ports)
        ports.append(port)
        return [start(machine, rank, here, port,
                      data_parallel_command(1, data if rank == 0 else machine_1_data, tmp_path / f'{name}{rank}',
                                            '--log_interval', '5', *extra), tmp_path / f'{name}{rank}', **environment)
                for rank in (0, 1)]

    # Machine 0 waits CLUSTER_TIMEOUT for machine 1, which never comes: a short one, for a short test.
    missing = pair('missing', parallel_set, tmp_path / 'no_such_copy', CLUSTER_TIMEOUT=str(MISSING_TIMEOUT))
    killed, different = [], []
    try:
        # The other runs start once machine 0 of this one waits for machine 1, so as not to slow its start-up.
        deadline = time.monotonic() + 120
        while 'BuildCluster' not in _text(tmp_path / 'missing0' / 'logs' / 'worker_0.log'):
            assert missing[0].poll() is None and time.monotonic() < deadline, finish(missing[0])
            time.sleep(0.5)
        # Long enough to be killed mid-run; MindSpore's heartbeat declares a silent worker lost after MS_NODE_TIMEOUT
        # seconds (30 by default, 10 here for a shorter test).
        killed = pair('killed', demo_set, demo_set, '--epoch_size', '3', MS_NODE_TIMEOUT='10')
        different = pair('different', parallel_set, short)
        deadline = time.monotonic() + 240
        while 'step 5/' not in _text(tmp_path / 'killed0.out'):
            assert killed[0].poll() is None and time.monotonic() < deadline, finish(killed[0])
            time.sleep(0.5)
        os.killpg(killed[1].pid, signal.SIGKILL)  # machine 1's launch, killed mid-run
        killed_at = time.monotonic()

        status, _, _, stderr = finish(killed[0])
        print(f'killed: machine 0 exited {status} {killed[0].ended - killed_at:.1f} s after the kill: {stderr[0]}')
        assert status != 0 and killed[0].ended - killed_at < FAILURE_DEADLINE, (status, stderr)
        assert stderr[0].startswith('train.py: error: the data-parallel group failed: worker 1 stopped answering'), \
            stderr
        assert finish(killed[1])[0] == -signal.SIGKILL

        status, seconds, stdout, stderr = finish(missing[1])
        print(f'missing: machine 1 exited {status} after {seconds:.1f} s: {stderr[0]}')
        assert status == 2 and seconds < 10 and stdout == ''
        assert stderr == [f'train.py: error: train set (--data_path) {tmp_path / "no_such_copy" / "train"} does not '
                          f'exist']
        status, seconds, _, stderr = finish(missing[0])
        print(f'missing: machine 0 exited {status} after {seconds:.1f} s: {stderr[0]}')
        assert status != 0 and seconds < FAILURE_DEADLINE, (status, seconds, stderr)
        assert stderr[0].startswith(f'train.py: error: the data-parallel group did not form: 2 workers were to join '
                                    f'within {MISSING_TIMEOUT} s (CLUSTER_TIMEOUT)'), stderr

        for process in different:
            status, seconds, _, stderr = finish(process)
            print(f'different: a machine exited {status} after {seconds:.1f} s: {stderr[0]}')
            assert status != 0 and seconds < FAILURE_DEADLINE + 30, (status, seconds, stderr)
            assert stderr[0] == ('train.py: error: the train set (--data_path) differs between the machines: rank 1 '
                                 'has 399 images, rank 0 400 (ranks that differ: [1]); every machine needs the '
                                 'same files at the same path'), stderr
    finally:
        for process in killed + missing + different:  # after a failed assertion
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert not processes_mentioning(str(tmp_path)), processes_mentioning(str(tmp_path))
    assert not ip('netns', 'pids', machine).stdout.split()

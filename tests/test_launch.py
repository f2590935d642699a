"""src/launch/, behind scripts/run_distribute_train*.sh: the machines of a run from NNODES, NODE_RANK, MASTER_ADDR,
MASTER_PORT and CLUSTER_TIMEOUT, rank tables of several servers, every check before anything starts, the error
first when a run fails, and no process left behind."""
import ipaddress
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import REPO, SMALL_NET, data_parallel_command, script_environment
from src.launch import logs as launch_logs, plan as launch_plan, processes as launch_processes
from src.utils.errors import UsageError

TEST_NET = ('192.0.2.201', '192.0.2.202')  # documentation addresses: never this machine's


def plan(environ, workers=2, rank_table=None):
    return launch_plan.plan_launch(environ, workers, rank_table)


def non_loopback_address():
    found = sorted(str(address) for address in launch_plan.local_addresses()
                   if address.version == 4 and not address.is_loopback)
    if not found:
        pytest.skip('this machine has no IPv4 address besides loopback')
    return found[0]


def test_defaults_are_one_machine_as_before():
    run = plan({}, workers=2)
    assert (run.nnodes, run.node_rank, run.master_addr, run.workers, run.total_workers) == (1, 0, '127.0.0.1', 2, 2)
    assert run.cluster_timeout == 600
    # Picked below the kernel's ephemeral ports, which outgoing connections could take before the scheduler binds it.
    with open('/proc/sys/net/ipv4/ip_local_port_range', encoding='utf-8') as handle:
        first_ephemeral = int(handle.read().split()[0])
    assert 20000 <= run.master_port < max(first_ephemeral, 21000)


def test_a_picked_port_is_one_no_program_holds(monkeypatch):
    loopback = ipaddress.ip_address('127.0.0.1')
    with socket.socket() as holder:
        holder.bind(('127.0.0.1', 0))
        held = holder.getsockname()[1]
        picks = iter([held, 20001, *range(20002, 20100)])  # the held port, one the caller took already, then others
        monkeypatch.setattr(launch_plan.random, 'randrange', lambda *_: next(picks))
        assert 20002 <= launch_plan.free_port(loopback, taken=[20001]) < 20100


def test_machine_0_of_two_holds_the_scheduler():
    address = non_loopback_address()
    run = plan({'NNODES': '2', 'NODE_RANK': '0', 'MASTER_ADDR': address}, workers=4)
    assert (run.nnodes, run.node_rank, run.master_addr, run.master_port) == (2, 0, address, 8118)
    assert (run.workers, run.total_workers, run.first_rank, run.cluster_timeout) == (4, 8, 0, 120)
    command = launch_processes.msrun_command(run, '/logs', ['--epoch_size', '1'])
    for option in ('--worker_num=8', '--local_worker_num=4', f'--master_addr={address}', '--master_port=8118',
                   '--node_rank=0', '--cluster_time_out=120'):
        assert option in command
    assert command[-3:] == [os.path.join(REPO, 'train.py'), '--epoch_size', '1']


def test_machine_1_runs_the_next_ranks_and_tells_its_workers_how_many_share_it():
    run = plan({'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': TEST_NET[0], 'MASTER_PORT': '29500',
                'CLUSTER_TIMEOUT': '120'}, workers=4)
    assert (run.first_rank, run.total_workers, run.master_port, run.cluster_timeout) == (4, 8, 29500, 120)
    assert launch_processes.msrun_environment(run, '/out')['LOCAL_WORKER_NUM'] == '4'


@pytest.mark.parametrize('environ, message', [
    ({'NNODES': '0'}, 'NNODES must be 1..4096, got 0'),
    ({'NNODES': 'two'}, "NNODES must be a whole number, got 'two'"),
    ({'NNODES': '99999999999'}, 'NNODES must be 1..4096, got 99999999999'),
    ({'NNODES': '2', 'NODE_RANK': '2', 'MASTER_ADDR': TEST_NET[0]}, 'NODE_RANK 2 is outside 0..1 (NNODES 2)'),
    ({'NNODES': '2', 'NODE_RANK': '1'}, 'NNODES is 2: set MASTER_ADDR to the address of machine 0'),
    ({'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': 'no-such-host.invalid'},
     'MASTER_ADDR no-such-host.invalid does not resolve'),
    ({'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': '127.0.0.1'}, 'is a loopback address'),
    ({'NNODES': '2', 'NODE_RANK': '0', 'MASTER_ADDR': TEST_NET[0]}, 'is not an address of this machine, but '
                                                                    'NODE_RANK 0 runs msrun\'s scheduler there'),
    ({'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': TEST_NET[0], 'MASTER_PORT': '80'},
     'MASTER_PORT must be 1024..65535, got 80'),
    ({'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': TEST_NET[0], 'CLUSTER_TIMEOUT': '0'},
     'CLUSTER_TIMEOUT must be 1 or more'),
])
def test_settings_that_cannot_work_are_refused(environ, message):
    with pytest.raises(UsageError, match=message.replace('(', r'\(').replace(')', r'\)').replace('.', r'\.')):
        plan(environ)


def test_a_machine_that_is_not_machine_0_must_not_hold_master_addr():
    address = non_loopback_address()
    with pytest.raises(UsageError, match='but NODE_RANK 1 is not machine 0 and msrun would start a second scheduler'):
        plan({'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': address})


def test_a_port_in_use_is_refused():
    with socket_listening() as port:
        with pytest.raises(UsageError, match=f'MASTER_PORT {port} cannot be used on 127.0.0.1'):
            plan({'MASTER_PORT': str(port)})


class socket_listening:  # pylint: disable=invalid-name
    def __enter__(self):
        import socket
        self.socket = socket.socket()
        self.socket.bind(('127.0.0.1', 0))
        self.socket.listen()
        return self.socket.getsockname()[1]

    def __exit__(self, *_):
        self.socket.close()


def rank_table(path, servers):
    """An HCCL rank table of {server_id: [(device_id, rank_id), ...]}."""
    table = {'version': '1.0', 'server_count': str(len(servers)), 'status': 'completed', 'server_list': [
        {'server_id': server_id, 'host_nic_ip': 'reserve',
         'device': [{'device_id': str(device), 'device_ip': f'192.168.100.{rank}', 'rank_id': str(rank)}
                    for device, rank in devices]}
        for server_id, devices in servers.items()]}
    path.write_text(json.dumps(table))
    return str(path)


def test_a_one_server_rank_table_starts_all_its_devices(tmp_path):
    table = rank_table(tmp_path / 'table.json', {'10.0.0.1': [(device, device) for device in range(8)]})
    run = plan({}, workers=None, rank_table=table)
    assert (run.nnodes, run.node_rank, run.workers, run.devices) == (1, 0, 8, tuple(range(8)))


def test_each_server_of_a_rank_table_starts_its_own_devices_ranked_as_listed(tmp_path, monkeypatch):
    table = rank_table(tmp_path / 'table.json', {TEST_NET[0]: [(0, 0), (1, 1), (2, 2), (3, 3)],
                                                 TEST_NET[1]: [(4, 4), (5, 5), (7, 7), (6, 6)]})
    monkeypatch.setattr(launch_plan, 'local_addresses', lambda: {ipaddress.ip_address(TEST_NET[1])})
    run = plan({}, workers=None, rank_table=table)
    assert (run.nnodes, run.node_rank, run.first_rank, run.total_workers) == (2, 1, 4, 8)
    assert (run.master_addr, run.master_port, run.devices) == (TEST_NET[0], 8118, (4, 5, 6, 7))
    assert launch_processes.msrun_environment(run, '/out')['ASCEND_RT_VISIBLE_DEVICES'] == '4,5,6,7'
    assert f'--rank_table_file={table}' in launch_processes.msrun_command(run, '/logs', [], table)
    # Server ids that are not this machine's addresses: NODE_RANK names the server.
    monkeypatch.setattr(launch_plan, 'local_addresses', set)
    assert plan({'NODE_RANK': '1'}, workers=None, rank_table=table).devices == (4, 5, 6, 7)
    with pytest.raises(UsageError, match='none is an address of this machine: set NODE_RANK'):
        plan({}, workers=None, rank_table=table)


@pytest.mark.parametrize('servers, environ, message', [
    ({TEST_NET[0]: [(0, 0), (1, 1)], TEST_NET[1]: [(0, 2)]}, {'NODE_RANK': '1'},
     f'server {TEST_NET[1]} has 1 devices and server {TEST_NET[0]} 2'),
    ({TEST_NET[0]: [(0, 0), (1, 2)], TEST_NET[1]: [(0, 1), (1, 3)]}, {'NODE_RANK': '1'},
     'has ranks \\[0, 2\\], but msrun numbers its devices 0..1'),
    ({TEST_NET[0]: [(0, 0)], TEST_NET[1]: [(0, 1)]}, {'NNODES': '3', 'NODE_RANK': '1'},
     'NNODES is 3 but rank table .* lists 2 servers'),
])
def test_rank_tables_msrun_cannot_follow_are_refused(tmp_path, servers, environ, message):
    with pytest.raises(UsageError, match=message):
        plan(environ, workers=None, rank_table=rank_table(tmp_path / 'table.json', servers))


def test_a_file_that_is_no_rank_table_is_refused(tmp_path):
    (tmp_path / 'table.json').write_text('{"version": "1.0"}')
    with pytest.raises(UsageError, match='is not an HCCL rank table'):
        launch_plan.read_rank_table(str(tmp_path / 'table.json'))


def test_the_failure_report_starts_with_the_error_that_caused_it(tmp_path):
    logs = tmp_path / 'logs'
    logs.mkdir()
    (logs / 'worker_2.log').write_text('[WARNING] DISTRIBUTED(1,7f,python):2026 [x.cc:1] Connect] retry\n'
                                       'epoch 1/3 step 5/37 loss 2.3\n')
    (logs / 'worker_3.log').write_text('Traceback (most recent call last):\n  File "train.py"\n'
                                       'RuntimeError: the real cause\n')
    (logs / 'scheduler.log').write_text('train.py: error: the data-parallel group failed: worker 3 stopped\n')
    run = launch_plan.Launch(nnodes=2, node_rank=1, master_addr=TEST_NET[0], master_port=8118, workers=2, cluster_timeout=30)
    report = launch_logs.failure_report('x.sh', run, log_dir=str(logs), msrun_log=str(logs / 'msrun_node1.log'), status=1)
    # The scheduler names the worker that stopped answering: the cause, where a traceback here is its consequence.
    assert report[0] == 'train.py: error: the data-parallel group failed: worker 3 stopped'
    (logs / 'worker_2.log').write_text('epoch 1/3 step 5/37 loss 2.3\ntrain.py: loss is nan at epoch 1, step 6\n')
    report = launch_logs.failure_report('x.sh', run, log_dir=str(logs), msrun_log=str(logs / 'msrun_node1.log'), status=1)
    assert report[0] == 'train.py: loss is nan at epoch 1, step 6'
    (logs / 'worker_2.log').unlink()
    (logs / 'scheduler.log').unlink()
    report = launch_logs.failure_report('x.sh', run, log_dir=str(logs), msrun_log=str(logs / 'msrun_node1.log'), status=1)
    assert report[0] == 'RuntimeError: the real cause'
    (logs / 'worker_3.log').write_text('RuntimeError: \n----\n- Kernel error:\n----\nLaunch kernel failed: AllReduce\n')
    report = launch_logs.failure_report('x.sh', run, log_dir=str(logs), msrun_log=str(logs / 'msrun_node1.log'), status=1)
    assert report[0] == 'RuntimeError: Launch kernel failed: AllReduce'
    (logs / 'worker_3.log').write_text('[ERROR] DISTRIBUTED(1,7f,python):2026 [x.cc:1] RunRingAllReduce] failed\n')
    (logs / 'msrun_node1.log').write_text('[ERROR] ME(9:1,MainProcess):2026 [_api.py:365] Worker process 77 exit '
                                          'with exception. Error code: -9.\n')
    report = launch_logs.failure_report('x.sh', run, log_dir=str(logs), msrun_log=str(logs / 'msrun_node1.log'), status=1)
    assert report[0] == 'x.sh: error: a worker of this machine was killed by signal 9 without an error message ' \
                       '(out of memory?)'


def processes_mentioning(text):
    """Command lines of the running processes that contain `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as handle:
                command = handle.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if text in command and int(pid) != os.getpid():
            found.append(command)
    return found


def test_a_missing_data_path_is_the_first_line_and_stops_the_run_at_once(demo_set, tmp_path):
    missing = tmp_path / 'no_such_folder'
    started = time.monotonic()
    result = subprocess.run(['bash', 'scripts/run_distribute_train_cpu.sh', '2', str(missing), '--output_dir',
                             str(tmp_path / 'out'), *SMALL_NET], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=False, env=script_environment())
    seconds = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [f'train.py: error: train set (--data_path) {missing} does not exist']
    assert result.stdout == '' and 'Traceback' not in result.stderr
    assert seconds < 10, f'took {seconds:.1f} s'
    assert not (tmp_path / 'out').exists() and not processes_mentioning(str(tmp_path))


@pytest.mark.parametrize('environ, message', [
    ({'NNODES': '2', 'NODE_RANK': '5', 'MASTER_ADDR': TEST_NET[0]}, 'NODE_RANK 5 is outside 0..1'),
    ({'NNODES': '2', 'NODE_RANK': '1', 'MASTER_ADDR': 'no-such-host.invalid'}, 'does not resolve'),
])
def test_the_scripts_report_bad_launch_settings_in_one_line(demo_set, tmp_path, environ, message):
    result = subprocess.run(data_parallel_command(1, demo_set, tmp_path), cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=False, env=script_environment(**environ))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith('run_distribute_train_cpu.sh: error: ') and message in result.stderr


@pytest.mark.parametrize('workers, cpus, memory_mib, message', [
    (9, 2, 64_000, '9 workers do not fit this machine, which holds at most 8: it has 2 CPUs (up to 4 workers a CPU: 8)'),
    (4, 8, 3_000, '4 workers do not fit this machine, which holds at most 2: it has 8 CPUs (up to 4 workers a CPU: '
                  '32) and 2.9 GiB of memory available (a worker takes 1.0 GiB or more: 2)'),
])
def test_a_machine_is_given_only_the_workers_it_holds(workers, cpus, memory_mib, message):
    launch_plan.check_machine_holds(8, 2, 64_000, scheduler=True)  # a few workers a CPU stay accepted
    with pytest.raises(UsageError) as refused:
        launch_plan.check_machine_holds(workers, cpus, memory_mib, scheduler=True)
    assert str(refused.value).startswith(message)


@pytest.mark.fault
def test_more_workers_than_the_machine_holds_are_refused_before_anything_starts(demo_set, tmp_path):
    started = time.monotonic()
    result = subprocess.run(data_parallel_command(500, demo_set, tmp_path / 'out'), cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=False, env=script_environment())
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stdout + result.stderr
    assert result.stderr.startswith('run_distribute_train_cpu.sh: error: 500 workers do not fit this machine, which '
                                    'holds at most ')
    assert time.monotonic() - started < 10 and not (tmp_path / 'out').exists()


def _wait_for(condition, process, seconds):
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.fault
def test_a_launch_killed_with_sigkill_at_any_moment_takes_its_workers_with_it(demo_set, tmp_path):
    """SIGKILL to the launch's process group, as a CI timeout or the OOM killer sends it, while msrun starts its
    processes and while they start MindSpore (before and after each asks to die with its parent): nothing the
    launch started runs on."""
    moments = {'msrun starting': lambda out: (out / 'logs' / 'msrun_node0.log').exists(),
               'workers starting': lambda out: len(processes_mentioning(f'--output_dir {out}')) >= 5}
    for number, (moment, reached) in enumerate(moments.items()):
        output_dir = tmp_path / str(number)
        launch_process = subprocess.Popen(data_parallel_command(2, demo_set, output_dir, '--epoch_size', '5'),
                                          cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                          env=script_environment(), start_new_session=True)
        try:
            _wait_for(lambda: reached(output_dir), launch_process, 180)
        finally:
            os.killpg(launch_process.pid, signal.SIGKILL)
            launch_process.communicate()
        deadline = time.monotonic() + 10
        while processes_mentioning(str(output_dir)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not processes_mentioning(str(output_dir)), moment


@pytest.mark.slow
def test_a_stopped_launch_leaves_no_process_behind(demo_set, tmp_path):
    launch_process = subprocess.Popen(data_parallel_command(2, demo_set, tmp_path, '--epoch_size', '5'), cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=script_environment(), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(processes_mentioning(f'--output_dir {tmp_path}')) < 5:  # the launch, msrun, scheduler, 2 workers
            assert launch_process.poll() is None and time.monotonic() < deadline, launch_process.communicate()
            time.sleep(0.5)
        os.killpg(launch_process.pid, signal.SIGTERM)  # what `kill` or a closing terminal sends
        _, stderr = launch_process.communicate(timeout=60)
    finally:
        if launch_process.poll() is None:
            os.killpg(launch_process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while processes_mentioning(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not processes_mentioning(str(tmp_path))
    assert launch_process.returncode != 0
    assert 'stopped by SIGTERM' in stderr


@pytest.mark.slow
def test_a_scheduler_that_cannot_listen_is_the_first_line_and_stops_the_run(demo_set, tmp_path):
    """MASTER_PORT taken by another program after the launch checked it, before msrun's scheduler binds it: the
    launch names that first and stops at once, instead of its workers waiting out CLUSTER_TIMEOUT."""
    import socket
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    launch_process = subprocess.Popen(data_parallel_command(1, demo_set, tmp_path), cwd=REPO, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, start_new_session=True,
                                      env=script_environment(MASTER_PORT=str(port)))
    with socket.socket() as other_program:
        try:
            deadline = time.monotonic() + 60
            while not (tmp_path / 'logs' / 'msrun_node0.log').exists():  # msrun is starting its scheduler
                assert launch_process.poll() is None and time.monotonic() < deadline, launch_process.communicate()
                time.sleep(0.01)
            other_program.bind(('127.0.0.1', port))
            other_program.listen()
            started = time.monotonic()
            _, stderr = launch_process.communicate(timeout=120)
        finally:
            if launch_process.poll() is None:
                os.killpg(launch_process.pid, signal.SIGKILL)
    seconds = time.monotonic() - started
    assert launch_process.returncode == 1, stderr
    assert stderr.splitlines()[0] == (
        f"run_distribute_train_cpu.sh: error: msrun's scheduler cannot listen on 127.0.0.1:{port} (Address already in "
        f"use): another program took MASTER_PORT {port} after the launch checked it; start again, or set MASTER_PORT "
        f"to a free port, the same on every machine"), stderr
    assert seconds < 30, f'took {seconds:.1f} s'
    assert not processes_mentioning(str(tmp_path))

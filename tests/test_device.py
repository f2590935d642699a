"""Device set-up: 'auto' never crashes, unavailable devices are refused clearly, the CPU ISA cap works, and
data-parallel CPU workers get their own CPUs and fused all-reduce."""
import os
import sys
import textwrap

import mindspore as ms
import pytest

from conftest import REPO, run_script
from src.utils.device import group_failure, resolve_target, worker_cpus
from src.utils.errors import UsageError


def accelerators():
    return [name for name in ('Ascend', 'GPU') if getattr(ms.device_context, name.lower()).is_available()]


def test_auto_picks_an_available_device():
    expected = accelerators()[0] if accelerators() else 'CPU'
    assert resolve_target('auto') == expected


@pytest.mark.parametrize('target', ['Ascend', 'GPU'])
def test_unavailable_device_is_refused_with_advice(target):
    if target in accelerators():
        pytest.skip(f'{target} is available here')
    with pytest.raises(UsageError, match=f'device_target {target} is not available.*--device_target CPU or auto'):
        resolve_target(target)


CONV_PROBE = textwrap.dedent('''
    import sys
    sys.path.insert(0, {repo!r})
    from src.config import parse_config
    from src.utils.device import setup_device
    cfg = parse_config('probe', ['--device_target', 'CPU', '--mode', 'pynative'])
    device = setup_device(cfg)
    import numpy as np, mindspore as ms
    from mindspore import nn
    conv = nn.Conv2d(16, 16, 3, pad_mode='pad', padding=1)
    conv(ms.Tensor(np.ones((2, 16, 14, 14), np.float32))).asnumpy()
    print('device', device.target, device.rank, device.group_size)
''')


def conv_kernels(env):
    result = run_script('-c', CONV_PROBE.format(repo=REPO), env=dict(env, ONEDNN_VERBOSE='1'), timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'device CPU 0 1' in result.stdout
    isa = [line for line in result.stdout.splitlines() if ',info,cpu,isa:' in line]
    kernels = [line.split(',')[6] for line in result.stdout.splitlines() if ',exec,cpu,convolution,' in line]
    assert isa and kernels
    return isa[0].split('isa:')[1], kernels


def test_cpu_runs_get_the_isa_cap_and_fast_kernels(monkeypatch):
    monkeypatch.delenv('ONEDNN_MAX_CPU_ISA', raising=False)
    isa, kernels = conv_kernels({})
    assert 'AVX2' in isa and 'AVX-512' not in isa
    assert not [kernel for kernel in kernels if 'ref' in kernel], kernels


def test_a_users_own_isa_choice_is_kept(monkeypatch):
    monkeypatch.setenv('ONEDNN_MAX_CPU_ISA', 'SSE41')
    isa, _ = conv_kernels({})
    assert 'SSE4.1' in isa


def test_distributed_without_a_launcher_is_a_clear_error(tiny_demo):
    result = run_script('train.py', '--run_distribute', 'true', '--device_target', 'CPU', '--data_path',
                        str(tiny_demo / 'train'), '--num_classes', '10', timeout=120)
    assert result.returncode == 2
    assert 'needs a launcher (msrun, mpirun or a rank table)' in result.stderr


# Data-parallel CPU workers: each gets its own share of the CPUs, and all-reduce fusion is on.

@pytest.mark.parametrize('cpus, rank, workers, expected', [
    ([0, 1], 0, 2, [0]),
    ([0, 1], 1, 2, [1]),
    ([0, 1, 2, 3, 4, 5, 6, 7], 1, 2, [4, 5, 6, 7]),
    ([0, 1, 2, 3, 4], 2, 3, [2]),    # the fifth CPU is left over rather than given to one worker
    ([0, 1], 2, 3, [0]),             # more workers than CPUs: one CPU each, shared round-robin
])
def test_each_worker_gets_an_equal_share_of_the_cpus(cpus, rank, workers, expected):
    assert worker_cpus(cpus, rank, workers) == expected


BIND_PROBE = textwrap.dedent('''
    import os, sys
    sys.path.insert(0, {repo!r})
    from src.utils.device import bind_data_parallel_worker
    print('bound', bind_data_parallel_worker(), 'cpus', sorted(os.sched_getaffinity(0)))
''')


def bind_probe(env, preexec_fn=None):
    import subprocess
    clean = {key: value for key, value in os.environ.items()
             if key not in ('DEVICE_ID', 'MS_WORKER_NUM', 'LOCAL_WORKER_NUM')}
    result = subprocess.run([sys.executable, '-c', BIND_PROBE.format(repo=REPO)], env=dict(clean, **env),
                            capture_output=True, text=True, timeout=60, check=False, preexec_fn=preexec_fn)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


MACHINE_CPUS = sorted(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(len(MACHINE_CPUS) < 2 or len(MACHINE_CPUS) < os.cpu_count(),
                                    reason='needs 2 CPUs and a process not bound to part of the machine')


@needs_two_cpus
def test_an_msrun_worker_binds_itself_to_its_share():
    share = worker_cpus(MACHINE_CPUS, 1, 2)
    output = bind_probe({'DEVICE_ID': '1', 'MS_WORKER_NUM': '2', 'LOCAL_WORKER_NUM': '2'})
    assert output == f'bound {share} cpus {share}'


def test_the_only_worker_of_its_machine_keeps_every_cpu():
    # Machine 1 of two, one worker each: MS_WORKER_NUM counts both machines' workers, LOCAL_WORKER_NUM this one's.
    assert bind_probe({'DEVICE_ID': '0', 'MS_WORKER_NUM': '2', 'LOCAL_WORKER_NUM': '1'}) == \
        f'bound None cpus {MACHINE_CPUS}'


@needs_two_cpus
def test_a_users_own_binding_is_kept():
    def bind_to_first_cpu():
        os.sched_setaffinity(0, MACHINE_CPUS[:1])
    output = bind_probe({'DEVICE_ID': '1', 'MS_WORKER_NUM': '2', 'LOCAL_WORKER_NUM': '2'},
                        preexec_fn=bind_to_first_cpu)
    assert output == f'bound None cpus {MACHINE_CPUS[:1]}'


def test_a_process_without_a_launcher_or_alone_is_not_bound():
    assert bind_probe({}) == f'bound None cpus {MACHINE_CPUS}'
    assert bind_probe({'DEVICE_ID': '0', 'MS_WORKER_NUM': '1', 'LOCAL_WORKER_NUM': '1'}) == \
        f'bound None cpus {MACHINE_CPUS}'


# A child that asks to die with its parent, and a parent that starts it and reports its pid.
CHILD_PROBE = ('import os, sys, time; sys.path.insert(0, sys.argv[1]); from src.utils.device import exit_with_parent; '
               'exit_with_parent(os.getppid()); print("ready", flush=True); time.sleep(600)')
PARENT_PROBE = ('import subprocess, sys, time; child = subprocess.Popen([sys.executable, "-c", sys.argv[1], '
                'sys.argv[2]], stdout=subprocess.PIPE, text=True); child.stdout.readline(); '
                'print(child.pid, flush=True); time.sleep(600)')


def running(pid):
    """Whether `pid` exists and has not ended (an ended process stays a zombie until it is reaped)."""
    try:
        with open(f'/proc/{pid}/stat', encoding='utf-8') as handle:
            return handle.read().rsplit(') ', 1)[1][0] != 'Z'
    except OSError:
        return False


def test_a_process_dies_with_the_process_that_started_it():
    import signal
    import subprocess
    import time
    parent = subprocess.Popen([sys.executable, '-c', PARENT_PROBE, CHILD_PROBE, REPO], stdout=subprocess.PIPE,
                              text=True)
    child = int(parent.stdout.readline())
    assert running(child)
    parent.send_signal(signal.SIGKILL)  # no chance to clean up
    parent.wait()
    deadline = time.monotonic() + 10
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(child)


@pytest.mark.parametrize('reason, message', [
    ('Failed to initialize distributed job cluster because some processes in the cluster are not successfully '
     'spawned.', 'the data-parallel group did not form: 4 workers were to join within 30 s (CLUSTER_TIMEOUT)'),
    ('The total number of timed out node is 1. Timed out node list is: [const vector]{3}, worker 3 is the first one '
     'timed out, please check its log.', 'the data-parallel group failed: worker 3 stopped answering (its process or '
                                         'machine stopped, or the network failed); see worker_3.log on its machine'),
])
def test_a_group_that_fails_is_explained_in_one_line(monkeypatch, reason, message):
    monkeypatch.setenv('MS_WORKER_NUM', '4')
    monkeypatch.setenv('MS_TOPO_TIMEOUT', '30')
    assert group_failure(reason).startswith(message) and '\n' not in group_failure(reason)

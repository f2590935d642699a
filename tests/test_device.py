"""Device set-up: 'auto' never crashes, unavailable devices are refused clearly, the CPU ISA cap works."""
import textwrap

import mindspore as ms
import pytest

from conftest import REPO, run_script
from src.config import UsageError
from src.device import resolve_target


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
    from src.device import setup_device
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


def test_distributed_without_a_launcher_is_a_clear_error():
    result = run_script('train.py', '--run_distribute', 'true', '--device_target', 'CPU', timeout=120)
    assert result.returncode == 2
    assert 'needs a launcher (msrun, mpirun or a rank table)' in result.stderr

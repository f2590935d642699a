"""Shared test set-up: the repository on sys.path and MindSpore on the CPU with the oneDNN ISA cap."""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from src.device import cap_cpu_isa  # noqa: E402  (needs the path above)

cap_cpu_isa()  # before MindSpore's first kernel, as the entry points do


@pytest.fixture(scope='session', autouse=True)
def cpu_device():
    import mindspore as ms
    ms.set_device('CPU')
    ms.set_context(mode=ms.PYNATIVE_MODE)


def run_script(*args, timeout=600, env=None, cwd=REPO):
    """Run a repository entry point (`python <args>`) in a subprocess; returns the CompletedProcess."""
    import subprocess
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False)

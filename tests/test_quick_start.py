"""The quick start, fast variant, in a clean copy of the repository: every step of the main job runs and the
summary points at files that exist."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def clean_copy(destination):
    """The files git tracks plus the untracked ones it does not ignore: what a clone of this state holds."""
    listed = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split('\0')
    for relative in filter(None, listed):
        source = os.path.join(REPO, relative)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(os.path.join(destination, relative)), exist_ok=True)
            shutil.copy2(source, os.path.join(destination, relative))
    return destination


def test_fast_quick_start_runs_the_whole_pipeline_in_a_clean_copy(tmp_path):
    repo = clean_copy(str(tmp_path / 'repo'))
    # The test environment already has every package: setup_env.sh finds it complete and installs nothing.
    environment = dict(os.environ, VENV=sys.prefix)
    environment.pop('PYTHON', None)
    # Started from another folder: the script finds its repository itself.
    result = subprocess.run(['bash', os.path.join(repo, 'scripts', 'quick_start.sh'), '--fast'], cwd=str(tmp_path),
                            env=environment, capture_output=True, text=True, timeout=900, check=False)
    output = os.path.join(repo, 'output', 'quick_start_fast')
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    for step in ('1/6 demo data', '2/6 training', '3/6 evaluating', '4/6 exporting', '5/6 the C++ inference app',
                 '6/6 BAM attention maps', 'done in'):
        assert step in result.stdout
    eval_top1 = float(re.search(r'eval.py: .*top1 (\d\.\d+)', result.stdout).group(1))
    app_top1 = float(re.search(r'C\+\+ app \+ postprocess: +Total data: 200, top1 accuracy: (\d\.\d+)',
                               result.stdout).group(1))
    assert abs(app_top1 - eval_top1) <= 0.01
    for produced in ('epochs.csv', 'training_curves.png', 'train_resnet50_bam_fashion_demo_best.ckpt',
                     'resnet50_bam_fashion_demo.onnx', 'resnet50_bam_fashion_demo.mindir'):
        assert os.path.isfile(os.path.join(output, produced)), produced
    assert len(os.listdir(os.path.join(output, 'attention'))) == 10

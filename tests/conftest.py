"""Shared test set-up: the repository on sys.path and MindSpore on the CPU with the oneDNN ISA cap."""
import contextlib
import csv
import fcntl
import os
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from src.utils.device import cap_cpu_isa  # noqa: E402  (needs the path above)

cap_cpu_isa()  # before MindSpore's first kernel, as the entry points do


# Fixtures that train, convert, export, build or launch for more than a few seconds: a test that uses one is slow.
SLOW_FIXTURES = {'trained_run', 'interrupted_run', 'two_worker_run', 'narrow_exports', 'infer_app_build', 'machine_1',
                 'tiny_run', 'release_files', 'converted_10', 'three_networks'}


def pytest_collection_modifyitems(items):
    """Mark the tests that use a slow fixture as slow."""
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope='session', autouse=True)
def cpu_device():
    import mindspore as ms
    ms.set_device('CPU')
    ms.set_context(mode=ms.PYNATIVE_MODE)


def one_line_error(result):
    """The one stderr line of an entry point that refused its input with exit status 2."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def run_script(*args, timeout=600, env=None, cwd=REPO):
    """Run a repository entry point (`python <args>`) in a subprocess; returns the CompletedProcess."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False)


# What several test files read (data sets, trained and exported models, the C++ app) is made once per test run, also
# when pytest-xdist runs the files in several processes: the first process to need it makes it, under a file lock,
# in the run's shared temporary folder; the others wait for it and read it.

def _shared_root(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive lock on the file `path` (created) while the block runs: one process of the test run at a
    time; the kernel releases it however the holder ends."""
    with open(path, 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def made_once(tmp_path_factory, name, make):
    """make(folder)'s result (picklable), computed once per test run in `folder` (a new folder named `name`); a
    failure to make it fails every test that needs it, with the first one's message."""
    root = _shared_root(tmp_path_factory)
    result_file, failure_file = root / f'{name}.pickle', root / f'{name}.failed'
    with locked(root / f'{name}.lock'):
        if failure_file.exists():
            pytest.fail(f'{name} could not be made: {failure_file.read_text()}', pytrace=False)
        if not result_file.exists():
            folder = root / name
            folder.mkdir()
            try:
                result = make(folder)
            except BaseException as error:
                failure_file.write_text(f'{type(error).__name__}: {error}'[:5000])
                raise
            result_file.write_bytes(pickle.dumps(result))
        return pickle.loads(result_file.read_bytes())


# Data: tiny image sets written by the tests from the real Fashion-MNIST photos (Debian's dataset-fashion-mnist).

@pytest.fixture(scope='session')
def fashion_photos():
    """(images uint8 (10000, 28, 28), labels (10000,)) of Fashion-MNIST's t10k file."""
    from src.data.demo_data import read_fashion_mnist
    return read_fashion_mnist('t10k')


def write_image_folder(root, photos, counts, size=32):
    """Write root/<class>/<class>_<i>.JPEG for {class folder: image count}, photo i going to the i-th file
    written (so each file holds a different photo), upscaled to size x size; returns root as a string."""
    from src.data.demo_data import encode_jpeg
    index = 0
    for class_name, count in counts.items():
        os.makedirs(os.path.join(root, class_name), exist_ok=True)
        for _ in range(count):
            with open(os.path.join(root, class_name, f'{class_name}_{index}.JPEG'), 'wb') as handle:
                handle.write(encode_jpeg(photos[0][index], size))
            index += 1
    return str(root)


@pytest.fixture(scope='session')
def tiny_demo(tmp_path_factory):
    """A demo set of 4 train and 3 val images per class (40 and 30 images), 32 x 32."""
    from src.data.demo_data import build_demo_data

    def make(root):
        build_demo_data(str(root), train_per_class=4, val_per_class=3, image_size=32, seed=3)
        return root
    return made_once(tmp_path_factory, 'tiny_demo', make)


# The authors' model in PyTorch, with random weights, for the equivalence and checkpoint-conversion tests.

def official_torch_model(num_classes=1000, seed=0, *, network_type='ImageNet', depth=50, att_type='BAM', width=64):
    """src.convert.official_resnet_torch.ResidualNet (by default the released ResNet50+BAM) with the official random
    initialisation and random BatchNorm statistics, scales and biases, in inference mode."""
    import torch
    from src.convert.official_resnet_torch import ResidualNet, with_random_state

    torch.manual_seed(seed)
    return with_random_state(ResidualNet(network_type, depth, num_classes, att_type, width=width), seed + 1)


def authors_preprocessing(path, size=224, resize=256):
    """The authors' evaluation of one image file, written with PIL and numpy as torchvision does it: Resize(256)
    (shorter side to 256, the longer one truncated, PIL bilinear), CenterCrop(224) (offsets rounded), ToTensor and
    Normalize with the ImageNet mean and standard deviation. A float32 (3, size, size) array."""
    import numpy as np
    from PIL import Image
    from src.data.dataset import IMAGENET_MEAN, IMAGENET_STD

    image = Image.open(path).convert('RGB')
    width, height = image.size
    if width < height:
        new_width, new_height = resize, int(resize * height / width)
    else:
        new_width, new_height = int(resize * width / height), resize
    image = image.resize((new_width, new_height), Image.BILINEAR)
    top, left = int(round((new_height - size) / 2.)), int(round((new_width - size) / 2.))
    pixels = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32)
    return ((pixels - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).astype(np.float32)


# Models: a small randomly initialised network and its exports, shared by the export and inference tests.

NARROW_MODEL = ('--num_classes', '10', '--base_width', '16', '--image_height', '64', '--image_width', '48')


@pytest.fixture(scope='session')
def narrow_exports(tmp_path_factory):
    """A randomly initialised ResNet50-BAM of base width 16 for 10 classes (NARROW_MODEL's settings, 64 x 48
    inputs) as a checkpoint, exported by export.py to MINDIR and ONNX. Returns a SimpleNamespace of the
    paths (ckpt, mindir, onnx) and export.py's output per format (stdout)."""
    from types import SimpleNamespace

    import mindspore as ms

    from src.engine.checkpoint import save_atomically
    from src.models.resnet import resnet50_bam

    def make(root):
        ms.set_seed(7)
        ckpt = save_atomically(resnet50_bam(num_classes=10, base_width=16), str(root / 'narrow.ckpt'))
        stdout = {}
        for file_format in ('MINDIR', 'ONNX'):
            result = run_script('export.py', '--ckpt_file', ckpt, '--file_format', file_format,
                                '--file_name', str(root / 'narrow'), '--device_target', 'CPU', *NARROW_MODEL)
            assert result.returncode == 0, result.stderr
            stdout[file_format] = result.stdout
        return SimpleNamespace(ckpt=ckpt, mindir=str(root / 'narrow.mindir'), onnx=str(root / 'narrow.onnx'),
                               stdout=stdout)
    return made_once(tmp_path_factory, 'narrow_model', make)


# Training: a demo set and one short real training run, shared by the training, evaluation and inference tests.

SMALL_NET = ('--num_classes', '10', '--base_width', '8', '--image_height', '32', '--image_width', '32',
             '--device_target', 'CPU')
TRAIN_PER_CLASS, VAL_PER_CLASS, BATCH = 120, 30, 32
STEPS_PER_EPOCH = TRAIN_PER_CLASS * 10 // BATCH
TRAINED_EPOCHS = 6


INFER_APP_DIR = os.path.join(REPO, 'ascend310_infer')
INFER_APP = os.path.join(INFER_APP_DIR, 'out', 'resnet50_bam_infer')


@pytest.fixture
def repository_build(tmp_path_factory):
    """For a test that builds into the repository's ascend310_infer/ (build.sh, scripts/run_infer_cpu.sh): the
    folder to itself while it runs, since two CMake runs in one build folder would race."""
    with locked(_shared_root(tmp_path_factory) / 'repository_build.lock'):
        yield


@pytest.fixture(scope='session')
def infer_app_build(tmp_path_factory):
    """The C++ inference app built by its build.sh (cpu backend) into the repository's ascend310_infer/out, once per
    test run; returns build.sh's output."""
    def make(_):
        with locked(_shared_root(tmp_path_factory) / 'repository_build.lock'):
            result = subprocess.run(['bash', os.path.join(INFER_APP_DIR, 'build.sh')], capture_output=True,
                                    text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout
    return made_once(tmp_path_factory, 'infer_app_build', make)


@pytest.fixture(scope='session')
def demo_set(tmp_path_factory):
    """The demo set at TRAIN_PER_CLASS and VAL_PER_CLASS images per class, 32 x 32."""
    from src.data.demo_data import build_demo_data

    def make(root):
        build_demo_data(str(root), train_per_class=TRAIN_PER_CLASS, val_per_class=VAL_PER_CLASS, image_size=32,
                        seed=0)
        return root
    return made_once(tmp_path_factory, 'demo_set', make)


def train_args(demo, output_dir, *extra):
    return ('train.py', '--data_path', str(demo / 'train'), '--val_data_path', str(demo / 'val'),
            '--batch_size', str(BATCH), '--output_dir', str(output_dir), *SMALL_NET, *extra)


def read_csv(path):
    """The rows of a metrics CSV file, as dicts."""
    with open(path, encoding='utf-8') as handle:
        return list(csv.DictReader(handle))


def load(path):
    """A checkpoint's entries (mindspore.load_checkpoint)."""
    import mindspore as ms
    return ms.load_checkpoint(str(path))


def checkpoint(output_dir, epoch, arch='resnet50_bam', steps=STEPS_PER_EPOCH):
    return output_dir / 'ckpt' / f'train_{arch}_imagenet-{epoch}_{steps}.ckpt'


def earlier_results(output_dir):
    """A folder as an earlier run left it: its metrics, another prefix's checkpoint, and the launch scripts' log."""
    (output_dir / 'ckpt').mkdir(parents=True)
    (output_dir / 'logs').mkdir()
    (output_dir / 'epochs.csv').write_text('epoch,loss\n9,9.0\n')
    (output_dir / 'ckpt' / 'train_resnet50_bam_other-9_9.ckpt').write_bytes(b'earlier')
    (output_dir / 'logs' / 'train.log').write_text('the log of this launch')
    return output_dir


@pytest.fixture(scope='session')
def trained_run(demo_set, tmp_path_factory):
    """(output_dir, CompletedProcess) of train.py: SMALL_NET for TRAINED_EPOCHS epochs on demo_set with
    validation, a checkpoint per epoch, the newest three kept; started with --overwrite true in a folder holding
    an earlier run's results (earlier_results), which it replaces."""
    def make(output_dir):
        earlier_results(output_dir)
        # Zero-initialised residuals, as in the demo recipe: with the official init this peak rate drives the loss
        # above ln 10 and the run goes wherever float32 rounding sends it (34-49% after 6 epochs; with it, 69-71%).
        result = run_script(*train_args(demo_set, output_dir, '--epoch_size', str(TRAINED_EPOCHS), '--lr_init',
                                        '0.05', '--warmup_epochs', '1', '--zero_init_residual', 'true', '--run_eval',
                                        'true', '--save_checkpoint_epochs', '1', '--keep_checkpoint_max', '3',
                                        '--log_interval', '10', '--overwrite', 'true'))
        assert result.returncode == 0, result.stderr
        return output_dir, result
    return made_once(tmp_path_factory, 'trained', make)


# One training run stopped three ways, resumed after each stop, for the kill -9, Ctrl-C and resume checks; of a
# ResNet-18, which each of its five starts compiles in a third of ResNet50-BAM's time.

INTERRUPTED_EPOCHS = 3
INTERRUPTED_ARCH = 'resnet18'


def checkpoint_states(output_dir):
    """{file name: whether it loads with its end marker} of every checkpoint of a run, the best one included, and
    the hidden files saves killed half-way left (None)."""
    import mindspore as ms
    from src.engine.checkpoint import END_MARKER
    from src.utils.files import PARTIAL_PREFIX
    states = {}
    for folder in (output_dir, output_dir / 'ckpt'):
        for path in sorted(folder.iterdir()):
            if path.name.startswith(PARTIAL_PREFIX):
                states[path.name] = None
            elif path.suffix == '.ckpt':
                states[path.name] = END_MARKER in ms.load_checkpoint(str(path))
    return states


def newest_checkpoint(output_dir):
    from src.engine.checkpoint import checkpoint_files
    return Path(checkpoint_files(str(output_dir / 'ckpt'))[-1])


@pytest.fixture(scope='session')
def interrupted_run(demo_set, tmp_path_factory):
    """train.py for INTERRUPTED_EPOCHS epochs of demo_set (validated, a checkpoint every epoch), stopped three ways
    and each time resumed from its newest checkpoint: killed (SIGKILL) half-way through writing epoch 2's
    checkpoint; interrupted (SIGINT, Ctrl-C) at its first logged step; killed at a random moment of its next epoch
    (start-up included); then run to the end. Returns a SimpleNamespace: output_dir, args, and per stop
    (killed_while_saving, ctrl_c, killed_at_random) the exit status, stderr and checkpoint_states right after it;
    ctrl_c.resumed_from; killed_at_random.moment (where the kill landed); final (CompletedProcess of the last
    resume), final_resumed_from and steps_before_final (rows of train_steps.csv before it); second_run and
    new_run_after (CompletedProcess of a run into the folder, without --resume, while the Ctrl-C run held it and
    after the final one)."""
    return made_once(tmp_path_factory, 'interrupted', lambda output_dir: _interrupt_and_resume(demo_set, output_dir))


def _progress_lines(process):
    """The lines of train.py's progress (steps and epochs) as it prints them."""
    for line in process.stdout:
        if line.startswith('epoch '):
            yield line


def _interrupt_and_resume(demo, output_dir):
    import csv
    import random
    import signal
    from types import SimpleNamespace

    args = train_args(demo, output_dir, '--epoch_size', str(INTERRUPTED_EPOCHS), '--save_checkpoint_epochs', '1',
                      '--keep_checkpoint_max', '10', '--run_eval', 'true', '--lr_init', '0.05', '--log_interval', '5',
                      '--arch', INTERRUPTED_ARCH)
    run = SimpleNamespace(output_dir=output_dir, args=args)
    environment = dict(os.environ, PYTHONUNBUFFERED='1')

    def stopped(process, stderr=''):
        return SimpleNamespace(status=process.returncode, stderr=stderr, checkpoints=checkpoint_states(output_dir))

    def resume():
        return subprocess.Popen([sys.executable, *args, '--resume', str(newest_checkpoint(output_dir))], cwd=REPO,
                                env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def signalled_while(signal_name, moment):
        """train.py given `signal_name` at `moment` (see tests/signalled_while.py), resumed if a checkpoint exists."""
        resuming = ['--resume', str(newest_checkpoint(output_dir))] if (output_dir / 'ckpt').is_dir() else []
        process = subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'signalled_while.py'), signal_name,
                                  moment, *args, *resuming], cwd=REPO, env=environment, capture_output=True, text=True,
                                 timeout=600, check=False)
        return stopped(process, process.stderr)

    run.killed_while_saving = signalled_while('SIGKILL', 'saving:-2_')

    run.ctrl_c = SimpleNamespace(resumed_from=newest_checkpoint(output_dir))
    process = resume()
    started = time.monotonic()
    next(_progress_lines(process), None)  # training: the moment a Ctrl-C is checked at here
    start_up = time.monotonic() - started
    process.send_signal(signal.SIGSTOP)  # held there (and its folder with it) while
    run.second_run = run_script(*args)  # a new run into the folder is tried
    process.send_signal(signal.SIGCONT)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    run.ctrl_c.__dict__.update(vars(stopped(process, stderr)))

    # At random: during start-up, or up to 0.2 s after one of the next epoch's step lines (one per 5 steps),
    # never later, so the kill always lands before the run could end by itself (a whole epoch later).
    rng = random.Random()
    lines_before_kill = rng.randrange(STEPS_PER_EPOCH // 5 + 1)
    process = resume()
    if lines_before_kill:
        for _, _ in zip(range(lines_before_kill), _progress_lines(process)):
            pass
        delay = rng.uniform(0, 0.2)
        time.sleep(delay)
        moment = f'{delay:.2f} s after progress line {lines_before_kill}'
    else:
        delay = rng.uniform(0, start_up)
        time.sleep(delay)
        moment = f'{delay:.2f} s into start-up'
    process.kill()
    process.communicate()
    run.killed_at_random = stopped(process)
    run.killed_at_random.moment = moment

    with open(output_dir / 'train_steps.csv', encoding='utf-8') as handle:
        run.steps_before_final = list(csv.DictReader(handle))
    run.final_resumed_from = newest_checkpoint(output_dir)
    run.final = run_script(*args, '--resume', str(run.final_resumed_from))
    run.new_run_after = run_script(*args)  # a new run into the finished run's folder
    return run


# Data parallel: SMALL_NET for one epoch of a smaller demo set (what is compared is the group's arithmetic, not
# what it learns), validated, at batch 16 per worker.

DATA_PARALLEL_BATCH = 16
PARALLEL_TRAIN_PER_CLASS, PARALLEL_VAL_PER_CLASS = 40, 10


@pytest.fixture(scope='session')
def parallel_set(tmp_path_factory):
    """A demo set of PARALLEL_TRAIN_PER_CLASS and PARALLEL_VAL_PER_CLASS images per class, 32 x 32."""
    from src.data.demo_data import build_demo_data

    def make(root):
        build_demo_data(str(root), train_per_class=PARALLEL_TRAIN_PER_CLASS, val_per_class=PARALLEL_VAL_PER_CLASS,
                        image_size=32, seed=1)
        return root
    return made_once(tmp_path_factory, 'parallel_set', make)


def data_parallel_command(workers, demo, output_dir, *extra):
    """scripts/run_distribute_train_cpu.sh with `workers` workers on this machine, on demo_set."""
    return ['bash', 'scripts/run_distribute_train_cpu.sh', str(workers), str(demo / 'train'), '--val_data_path',
            str(demo / 'val'), '--run_eval', 'true', '--epoch_size', '1', '--batch_size', str(DATA_PARALLEL_BATCH),
            '--output_dir', str(output_dir), *SMALL_NET, *extra]


def script_environment(**variables):
    return dict(os.environ, PYTHON=sys.executable, **variables)


def parameter_digests(output_dir):
    """{rank: [digest, ...]} from the worker logs in output_dir/logs."""
    digests = {}
    for name in os.listdir(output_dir / 'logs'):
        rank = re.fullmatch(r'worker_(\d+)\.log', name)
        if rank:
            text = (output_dir / 'logs' / name).read_text()
            digests[int(rank.group(1))] = re.findall(r'parameter digest (\w+)', text)
    return digests


@pytest.fixture(scope='session')
def two_worker_run(parallel_set, tmp_path_factory):
    """(output_dir, CompletedProcess) of data_parallel_command with two workers on this machine, on parallel_set."""
    def make(output_dir):
        return output_dir, subprocess.run(data_parallel_command(2, parallel_set, output_dir), cwd=REPO,
                                          capture_output=True, text=True, timeout=600, check=False,
                                          env=script_environment())
    return made_once(tmp_path_factory, 'two_workers', make)

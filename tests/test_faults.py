"""The fault suite: bad input and unlucky circumstances (a full disk, a read-only folder, a file where a folder
should be, NaN weights, a checkpoint of another width, a truncated copy, Ctrl-C, kill -9) over every entry point.
Each case runs the real command in a subprocess and asserts a non-zero exit, no traceback, one line on stderr that
names the problem, and that nothing is lost: earlier checkpoints still load, result files are complete or absent.
Where carrying on is right (files in a val set that cannot be decoded), the cases assert that every tool skips the
same files and names them.

    bash scripts/run_tests.sh -m fault      (this file and the fault cases of the other test files)
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import (INFER_APP, REPO, SMALL_NET, TRAINED_EPOCHS, checkpoint,  # noqa: F401
                      earlier_results, run_script, train_args, write_image_folder)

pytestmark = pytest.mark.fault

NARROW = ('--num_classes', '10', '--base_width', '16', '--image_height', '64', '--image_width', '48',
          '--device_target', 'CPU')


def assert_fault(result, message, status=2):
    """The command failed with `status`, without a traceback, with one stderr line that contains `message`."""
    output = result.stdout + result.stderr
    assert result.returncode == status, output[-3000:]
    assert 'Traceback' not in output, output[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr[-3000:]
    return lines[0]


def loads(path):
    import mindspore as ms
    from src.engine.checkpoint import END_MARKER
    return END_MARKER in ms.load_checkpoint(str(path))


def no_partial_files(*folders):
    return not [name for folder in folders if os.path.isdir(folder) for name in os.listdir(folder)
                if name.startswith('.partial-')]


# Folders that cannot be written to: a read-only mount, and a mount with little free space. Mounting needs root,
# which CI has; without it these cases are skipped with the reason.

def _mount(path, options):
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(path)], capture_output=True,
                            check=False)
    if result.returncode:
        pytest.skip(f'mounting a tmpfs needs root: {result.stderr.decode().strip()}')
    return path


@pytest.fixture
def mounts():
    made = []

    def mount(path, options):
        made.append(_mount(path, options))
        return path
    yield mount
    for path in reversed(made):
        subprocess.run(['umount', '-l', str(path)], check=False)


@pytest.fixture
def read_only(tmp_path, mounts):
    return mounts(tmp_path / 'read_only', 'ro,size=1m')


def full_disk(mounts, path, size, free):
    """A tmpfs of `size` bytes with `free` bytes (whole 4 KiB pages) left for what the test writes."""
    mounts(path, f'size={size}')
    (path / '.filler').write_bytes(b'\0' * (size - free))
    return path


# Checkpoints with something wrong, made from the shared trained run (SMALL_NET: 10 classes, width 8, 32x32).

@pytest.fixture(scope='module')
def best(trained_run):
    return trained_run[0] / 'train_resnet50_bam_imagenet_best.ckpt'


def _rewritten(source, target, change):
    import mindspore as ms
    from src.engine.checkpoint import save_atomically
    saved = ms.load_checkpoint(str(source))
    entries = [{'name': name, 'data': ms.Tensor(change(name, param.asnumpy()))} for name, param in saved.items()
               if not isinstance(param, str)]
    recorded = {name: value for name, value in saved.items() if isinstance(value, str)}  # the network's name
    return save_atomically(entries, str(target), recorded)


@pytest.fixture(scope='module')
def damaged(trained_run, best, tmp_path_factory):
    """{kind: checkpoint path}: NaN weights; a negative BatchNorm variance (finite weights, NaN logits); a training
    checkpoint cut at a record boundary (loads, but entries are missing); NaN optimizer state."""
    root = tmp_path_factory.mktemp('damaged')
    final = checkpoint(trained_run[0], 6)
    files = {
        'nan': _rewritten(best, root / 'nan.ckpt',
                          lambda name, value: value * np.nan if name == 'layer2.0.conv2.weight' else value),
        'huge_classifier': _rewritten(best, root / 'huge_classifier.ckpt',
                                      lambda name, value: np.full_like(value, 3e37) if name == 'fc.weight' else value),
        'negative_variance': _rewritten(best, root / 'negative_variance.ckpt',
                                        lambda name, value: -value if name.endswith('moving_variance') else value),
        'nan_momentum': _rewritten(final, root / 'nan_momentum.ckpt',
                                   lambda name, value: value * np.nan if name.startswith('moments.') else value),
    }
    data = final.read_bytes()
    files['cut'] = str(root / 'cut.ckpt')
    with open(files['cut'], 'wb') as handle:
        handle.write(data[:_record_boundary(data, 0.4)])
    return files


def _record_boundary(data, fraction):
    """The end of the record (a protobuf field of MindSpore's checkpoint) that lies `fraction` into the file."""
    position = 0
    while position < fraction * len(data):
        position += 1  # the field's tag
        length, shift = 0, 0
        while True:
            byte = data[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        position += length
    return position


# train.py

def train(demo_set, output_dir, *extra):
    return run_script(*train_args(demo_set, output_dir, '--epoch_size', '2', *extra))


@pytest.mark.parametrize('case, message', [
    ('output_dir_is_a_file', 'is a file, not a folder'),
    ('output_dir_read_only', 'cannot write into --output_dir'),
    ('checkpoint_folder_read_only', 'cannot write into the checkpoint folder'),
    ('output_dir_below_a_file', 'is below a file, not a folder'),
])
def test_train_checks_where_results_go_before_any_work(case, message, demo_set, tmp_path, mounts):
    if case == 'output_dir_is_a_file':
        output = tmp_path / 'out'
        output.write_text('not a folder')
    elif case == 'output_dir_read_only':
        output = mounts(tmp_path / 'out', 'ro,size=1m')
    elif case == 'checkpoint_folder_read_only':
        output = tmp_path / 'out'
        mounts(output / 'ckpt', 'ro,size=1m')
    else:
        (tmp_path / 'file').write_text('x')
        output = tmp_path / 'file' / 'out'
    started = time.time()
    assert_fault(train(demo_set, output), message)
    assert time.time() - started < 60  # refused up front, not after an epoch of training


@pytest.mark.slow
def test_train_on_a_full_disk_stops_in_one_line_and_keeps_the_last_checkpoint(tiny_demo, tmp_path, mounts):
    # Room for the settings, the metrics and one training checkpoint (3.1 MB at width 8), not for a second.
    output = full_disk(mounts, tmp_path / 'out', 5 * 2 ** 20, 4 * 2 ** 20)
    line = assert_fault(train(tiny_demo, output, '--save_checkpoint_epochs', '1', '--batch_size', '16'),
                        'No space left on device')
    first, second = (checkpoint(output, epoch, steps=2) for epoch in (1, 2))
    assert f'cannot write checkpoint {second}' in line
    assert f'the last good checkpoint is {first}' in line and loads(first)
    assert no_partial_files(output, output / 'ckpt')


@pytest.mark.parametrize('extra, message', [
    (('--name', 'a/b'), "--name 'a/b' becomes part of file names"),
    (('--name', '../x'), 'becomes part of file names'),
    (('--name', 'n' * 230), 'is 267 bytes, over the 246 this folder takes (the file system\'s limit less the temporary '
                            'name\'s prefix); choose a shorter name'),
    (('--lr_init', 'inf'), '--lr_init must be a finite number, got inf'),
    (('--lr_init', 'nan'), '--lr_init must be a finite number, got nan'),
    (('--weight_decay=-inf',), '--weight_decay must be a finite number'),
    (('--momentum', '1'), '--momentum must be in [0, 1)'),
    (('--linear_probe', 'true'), '--linear_probe trains a classifier on top of loaded weights'),
    (('--pre_trained', 'true', '--checkpoint_path', '/no/such.ckpt'), 'is missing'),
    (('--resume', '/no/such.ckpt'), '--resume /no/such.ckpt does not exist'),
    (('--data_path', '/no/such/folder'), 'does not exist'),
])
def test_train_refuses_bad_settings_in_one_line(extra, message, demo_set, tmp_path):
    assert_fault(train(demo_set, tmp_path, *extra), message)
    assert not (tmp_path / 'ckpt').exists()


@pytest.mark.parametrize('kind, how, message', [
    ('nan', 'pre_trained', 'holds NaN or infinite values in 1 entries (layer2.0.conv2.weight)'),
    ('cut', 'pre_trained', 'it is truncated'),
    ('nan_momentum', 'resume', 'holds NaN or infinite values'),
    ('cut', 'resume', 'no end marker: it is truncated'),
])
def test_train_refuses_damaged_checkpoints(kind, how, message, damaged, demo_set, tmp_path):
    start = (('--pre_trained', 'true', '--checkpoint_path', damaged[kind]) if how == 'pre_trained' else
             ('--resume', damaged[kind]))
    assert_fault(train(demo_set, tmp_path, '--epoch_size', '8', *start), message)


def test_resume_with_another_network_is_one_line(trained_run, demo_set, tmp_path):
    line = assert_fault(train(demo_set, tmp_path, '--epoch_size', '8', '--resume', str(checkpoint(trained_run[0], 5)),
                              '--base_width', '16'), 'conv1.weight (8, 3, 7, 7) != (16, 3, 7, 7)')
    assert 'does not fit this training run' in line


def test_resume_from_weights_alone_is_one_line(best, demo_set, tmp_path):
    import mindspore as ms
    from src.engine.checkpoint import save_atomically
    weights = {name: param for name, param in ms.load_checkpoint(str(best)).items()
               if not name.startswith('moments.') and name not in ('epoch_num', 'step_num', 'best_top1')
               and not isinstance(param, str)}
    save_atomically([{'name': name, 'data': param} for name, param in weights.items()], str(tmp_path / 'weights.ckpt'))
    assert_fault(train(demo_set, tmp_path / 'out', '--resume', str(tmp_path / 'weights.ckpt')),
                 'holds no training state (epoch, optimizer momentum): resume from a checkpoint written by train.py')


@pytest.mark.parametrize('case, message', [
    ('resume_from_elsewhere', 'holds the results of an earlier run (ckpt/train_resnet50_bam_other-9_9.ckpt, '
                              'epochs.csv); choose another folder, continue that run with --resume CHECKPOINT_IN_IT, '
                              'or pass --overwrite true to replace them'),
    ('overwrite_the_start', 'which this run starts from: copy it elsewhere first, or choose another folder'),
    ('inside_the_data', 'where it would become a class folder of the next run'),
])
def test_train_never_writes_over_results_or_inputs(case, message, best, demo_set, tmp_path):
    output_dir = earlier_results(tmp_path / 'out')
    if case == 'resume_from_elsewhere':
        extra = ['--resume', str(checkpoint(best.parent, TRAINED_EPOCHS))]
    elif case == 'overwrite_the_start':
        start = output_dir / 'start.ckpt'
        start.write_bytes(best.read_bytes())
        extra = ['--pre_trained', 'true', '--checkpoint_path', str(start), '--overwrite', 'true']
    else:
        extra = ['--output_dir', str(demo_set / 'train' / 'out')]
    assert_fault(train(demo_set, output_dir, *extra), message)
    assert (output_dir / 'ckpt' / 'train_resnet50_bam_other-9_9.ckpt').read_bytes() == b'earlier'
    assert not (demo_set / 'train' / 'out').exists()


def test_overwrite_replaces_an_earlier_runs_results_and_keeps_the_logs(trained_run):
    output_dir, result = trained_run  # started with --overwrite true in a folder holding earlier_results
    assert f'--overwrite true: removed the 2 result files of the earlier run in {output_dir}' in result.stdout
    assert sorted(os.listdir(output_dir / 'ckpt')) == [checkpoint(output_dir, epoch).name for epoch in (4, 5, 6)]
    assert (output_dir / 'epochs.csv').read_text().splitlines()[1].startswith('1,')
    assert (output_dir / 'logs' / 'train.log').read_text() == 'the log of this launch'


# eval.py

def evaluate(demo_set, output_dir, checkpoint_path, *extra):
    return run_script('eval.py', '--checkpoint_path', str(checkpoint_path), '--val_data_path', str(demo_set / 'val'),
                      '--output_dir', str(output_dir), *SMALL_NET, *extra)


@pytest.mark.parametrize('kind, message', [
    ('nan', 'holds NaN or infinite values in 1 entries (layer2.0.conv2.weight)'),
    ('negative_variance', 'holds negative BatchNorm variances'),
    ('huge_classifier', 'the network gave NaN or infinite logits for'),
    ('cut', 'it is truncated'),
])
def test_eval_does_not_score_damaged_checkpoints(kind, message, damaged, demo_set, tmp_path):
    assert_fault(evaluate(demo_set, tmp_path, damaged[kind]), message)
    assert not (tmp_path / 'eval_results.csv').exists()


def test_eval_of_a_folder_reports_the_damaged_checkpoint_and_scores_the_others(damaged, best, demo_set, tmp_path):
    folder = tmp_path / 'ckpt'
    folder.mkdir()
    (folder / 'net-1_1.ckpt').write_bytes(open(damaged['nan'], 'rb').read())
    (folder / 'net-2_1.ckpt').write_bytes(best.read_bytes())
    result = evaluate(demo_set, tmp_path, folder)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert '1 of 2 checkpoints could not be evaluated' in result.stderr.splitlines()[-1]
    rows = (tmp_path / 'eval_results.csv').read_text().splitlines()
    assert len(rows) == 3 and 'NaN' in rows[1] and rows[2].split(',')[1]  # complete: header, error row, scores


@pytest.mark.parametrize('case, message', [
    ('output_dir_is_a_file', 'is a file, not a folder'),
    ('output_dir_read_only', 'cannot write into --output_dir'),
    ('no_checkpoint', 'does not exist'),
    ('empty_checkpoint_folder', 'no .ckpt files in'),
    ('other_width', 'conv1.weight (8, 3, 7, 7) != (16, 3, 7, 7)'),
    ('missing_class_folder', 'has 9 class folders but the network classifies 10 classes'),
])
def test_eval_refuses_in_one_line(case, message, best, demo_set, tmp_path, mounts):
    output, ckpt, extra = tmp_path / 'out', best, []
    val = demo_set / 'val'
    if case == 'output_dir_is_a_file':
        output.write_text('x')
    elif case == 'output_dir_read_only':
        mounts(output, 'ro,size=1m')
    elif case == 'no_checkpoint':
        ckpt = tmp_path / 'absent.ckpt'
    elif case == 'empty_checkpoint_folder':
        ckpt = tmp_path / 'empty'
        ckpt.mkdir()
    elif case == 'other_width':
        extra = ['--base_width', '16']
    else:
        import shutil
        val = tmp_path / 'val'
        shutil.copytree(demo_set / 'val', val)
        shutil.rmtree(val / sorted(os.listdir(val))[3])
    result = run_script('eval.py', '--checkpoint_path', str(ckpt), '--val_data_path', str(val), '--output_dir',
                        str(output), *SMALL_NET, *extra)
    assert_fault(result, message)
    assert not (output / 'eval_results.csv').exists() or case == 'output_dir_is_a_file'


def test_eval_on_a_full_disk_keeps_the_scores_on_screen_and_no_half_file(best, demo_set, tmp_path, mounts):
    output = full_disk(mounts, tmp_path / 'out', 64 * 1024, 8192)  # a page for the lock, one for the settings
    result = evaluate(demo_set, output, best)
    assert_fault(result, 'eval_results.csv: No space left on device; nothing was written; the scores are printed above')
    assert f'{best}: top1 ' in result.stdout and not (output / 'eval_results.csv').exists()
    assert no_partial_files(output)


def test_eval_replaces_an_earlier_evaluation_only_when_asked(best, demo_set, tmp_path):
    output = tmp_path / 'out'
    output.mkdir()
    (output / 'eval_results.csv').write_text('the earlier scores')
    assert_fault(evaluate(demo_set, output, best), 'holds the results of an earlier run (eval_results.csv); choose '
                                                   'another folder or pass --overwrite true to replace them')
    assert (output / 'eval_results.csv').read_text() == 'the earlier scores'
    result = evaluate(demo_set, output, best, '--overwrite', 'true')
    assert result.returncode == 0, result.stderr[-3000:]
    assert str(best) in (output / 'eval_results.csv').read_text()


# Ctrl-C at each moment of a command's work: one line, exit status 130, nothing written outside its output.

def interrupted_when(command, cwd, reached, seconds=300):
    """Run `command` (python and its arguments) in `cwd`, send it SIGINT once `reached(process, lines)` holds for the
    stdout lines read so far, and return the CompletedProcess."""
    import threading
    process = subprocess.Popen([sys.executable, *command], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=dict(os.environ, PYTHONUNBUFFERED='1'))
    lines, errors = [], []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    error_reader = threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)
    reader.start()
    error_reader.start()
    deadline = time.monotonic() + seconds
    try:
        while not reached(process, lines):
            assert process.poll() is None and time.monotonic() < deadline, (lines, errors)
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(10)
    error_reader.join(10)
    return subprocess.CompletedProcess(command, process.returncode, ''.join(lines), ''.join(errors))


def importing_mindspore(process, _lines):
    """Whether `process` has begun to load MindSpore's libraries (the import lasts seconds)."""
    try:
        with open(f'/proc/{process.pid}/maps', encoding='utf-8') as handle:
            return '/mindspore/' in handle.read()
    except OSError:
        return False


def printed(text):
    return lambda _process, lines: any(text in line for line in lines)


COMMANDS = ('train.py', 'eval.py', 'export.py', 'predict.py', 'attention_map.py', 'convert_checkpoint.py',
            'benchmark.py', 'postprocess.py', 'create_imagenet2012_label.py', 'src/engine/plots.py', 'src/data/demo_data.py')
THREADS_OPEN_TO_SIGNALS = """
import atexit, os, runpy, signal, sys, threading

def report():
    answering = {thread.native_id for thread in threading.enumerate() if thread.name == 'signals'}
    tasks = os.listdir('/proc/self/task')
    open_to_signals = 0
    for task in tasks:
        with open(f'/proc/self/task/{task}/status') as status:
            blocked = int(next(line for line in status if line.startswith('SigBlk')).split()[1], 16)
        if int(task) not in answering and any(not blocked >> (signum - 1) & 1
                                              for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)):
            open_to_signals += 1
    print(f'{open_to_signals} of {len(tasks)} threads take signals; {len(answering)} answers them')

atexit.register(report)
sys.argv = [sys.argv[1], '--help']
runpy.run_path(sys.argv[0], run_name='__main__')
"""


@pytest.mark.parametrize('command', COMMANDS)
def test_no_thread_of_a_command_takes_a_signal_but_the_one_that_answers(command):
    """Every thread a command starts (numpy's OpenBLAS threads at its import among them) blocks Ctrl-C, SIGTERM and
    SIGHUP, but the one answering them: a thread that took one would run the handler installed at that moment,
    MindSpore's included, which turns Ctrl-C into SIGTERM."""
    # os.environ, not this process's C environment, where MindSpore set variables that keep OpenBLAS to one thread.
    result = subprocess.run([sys.executable, '-c', THREADS_OPEN_TO_SIGNALS, command], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1].startswith('0 of ') and result.stdout.endswith('; 1 answers them\n'), \
        result.stdout[-500:]


@pytest.mark.parametrize('moment', ['saving:-1_2', 'validating'])
def test_ctrl_c_during_a_save_or_a_validation_is_one_line_and_leaves_no_half_file(moment, tiny_demo, tmp_path):
    """Ctrl-C half-way through writing epoch 1's checkpoint, or while epoch 1 is validated (tests/signalled_while.py
    sends it there every time), in a run of two steps of a ResNet-18 (quick to compile): one line, status 130, no
    checkpoint, no half-written file, nothing in the working folder."""
    work = tmp_path / 'work'
    work.mkdir()
    validating = 'true' if moment == 'validating' else 'false'  # a validation would save the best checkpoint first
    result = subprocess.run([sys.executable, os.path.join(REPO, 'tests', 'signalled_while.py'), 'SIGINT', moment,
                             *[os.path.join(REPO, arg) if arg == 'train.py' else arg
                               for arg in train_args(tiny_demo, tmp_path / 'out', '--epoch_size', '1', '--batch_size',
                                                     '16', '--run_eval', validating, '--arch', 'resnet18')]],
                            cwd=work, capture_output=True, text=True, timeout=600, check=False)
    assert_fault(result, 'train.py: interrupted: no checkpoint was saved', status=130)
    assert not os.listdir(work) and no_partial_files(tmp_path / 'out', tmp_path / 'out' / 'ckpt')
    assert not list((tmp_path / 'out').rglob('*.ckpt'))


@pytest.mark.parametrize('moment', ['importing MindSpore', 'compiling the graph'])
def test_ctrl_c_while_training_starts_is_one_line(moment, demo_set, tmp_path):
    work = tmp_path / 'work'  # the working folder, where MindSpore would leave rank_0/om/analyze_fail.ir
    work.mkdir()
    command = [os.path.join(REPO, arg) if arg == 'train.py' else arg
               for arg in train_args(demo_set, tmp_path / 'out', '--epoch_size', '2')]
    reached = importing_mindspore if moment == 'importing MindSpore' else printed('resnet50_bam (imagenet stem) training on')
    result = interrupted_when(command, work, reached)
    assert_fault(result, 'train.py: interrupted: no checkpoint was saved', status=130)
    assert not os.listdir(work) and no_partial_files(tmp_path / 'out')


def test_ctrl_c_while_eval_scores_is_one_line(trained_run, demo_set, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    command = [os.path.join(REPO, 'eval.py'), '--checkpoint_path', str(trained_run[0] / 'ckpt'), '--val_data_path',
               str(demo_set / 'val'), '--output_dir', str(tmp_path / 'out'), *SMALL_NET]
    result = interrupted_when(command, work, printed(': top1 '))  # the next checkpoint is being scored
    # A slow machine also shows the progress of scoring (every 10 s on stderr) before the interruption's line.
    result.stderr = ''.join(line for line in result.stderr.splitlines(keepends=True)
                            if not line.startswith('  scoring '))
    assert_fault(result, 'eval.py: interrupted: 1 of 3 checkpoints scored (above); eval_results.csv not written',
                 status=130)
    assert not os.listdir(work) and not (tmp_path / 'out' / 'eval_results.csv').exists()


# export.py, predict.py, attention_map.py

def test_an_export_owns_its_file_and_ctrl_c_during_its_check_leaves_none(narrow_exports, tmp_path):
    """A second export to the same name while the first runs is refused at once, naming the first; Ctrl-C during the
    first's check leaves no file, not even a partial one; an existing file is replaced only with --overwrite true."""
    name = tmp_path / 'net'
    command = [os.path.join(REPO, 'export.py'), '--ckpt_file', narrow_exports.ckpt, '--file_name', str(name), *NARROW]

    second = []

    def second_refused_then_checking(process, lines):
        if not second and printed('Exporting')(process, lines):
            second.append(run_script(*command))
        return printed('Checking with')(process, lines)
    first = interrupted_when(command, tmp_path, second_refused_then_checking)
    assert_fault(second[0], f'--file_name {name}.mindir is in use by export.py (pid ')
    assert_fault(first, f'export.py: interrupted: {name}.mindir was not written', status=130)
    assert not os.listdir(tmp_path)
    (tmp_path / 'net.mindir').write_text('an earlier export')
    killed = killed_while_writing(tmp_path / 'other.onnx')
    assert_fault(run_script(*command), f'--file_name {name}.mindir exists (an earlier result); pass --overwrite true '
                                       f'to replace it, or choose another name')
    assert (tmp_path / 'net.mindir').read_text() == 'an earlier export'
    assert not [path for path in killed if path.exists()]  # what the killed export left, removed


def killed_while_writing(path):
    """The hidden files an export or a conversion to `path` killed with SIGKILL half-way leaves (its lock and its
    partial file), left by a process that does what they do before the kill."""
    from src.utils.files import partial_path
    code = ('import os, signal, sys; from src.utils.files import hold_output_file, partial_path; '
            'hold_output_file(sys.argv[1], "--file_name", False); open(partial_path(sys.argv[1]), "w").write("half"); '
            'os.kill(os.getpid(), signal.SIGKILL)')
    result = subprocess.run([sys.executable, '-c', code, str(path)], cwd=REPO, check=False)
    assert result.returncode == -signal.SIGKILL
    left = [path.parent / f'.{path.name}.lock', Path(partial_path(path))]
    assert all(path.exists() for path in left)
    return left


@pytest.mark.parametrize('program, arguments, message', [
    ('export.py', ['--ckpt_file', '{input}', '--file_name', '{input}', '--file_format', 'ONNX'],
     '--file_name {input} is --ckpt_file {input}, which this command reads'),
    ('convert_checkpoint.py', ['--torch_checkpoint', '{input}', '--output', '{input}'],
     '--output {input} is --torch_checkpoint {input}, which this command reads'),
])
def test_no_command_writes_over_its_input(program, arguments, message, tmp_path):
    source = tmp_path / 'model.onnx' if program == 'export.py' else tmp_path / 'authors.ckpt'
    source.write_bytes(b'the only copy')
    result = run_script(program, *[argument.format(input=source) for argument in arguments])
    assert_fault(result, message.format(input=source))
    assert source.read_bytes() == b'the only copy'


def test_the_converter_replaces_an_earlier_file_only_when_asked(tmp_path):
    earlier = tmp_path / 'converted.ckpt'
    earlier.write_bytes(b'an earlier conversion')
    result = run_script('convert_checkpoint.py', '--torch_checkpoint', str(tmp_path / 'authors.pth.tar'), '--output',
                        str(earlier))
    assert_fault(result, f'--output {earlier} exists (an earlier result); pass --overwrite true to replace it')
    assert earlier.read_bytes() == b'an earlier conversion'


def test_attention_maps_replace_earlier_pictures_only_when_asked(best, demo_set, tmp_path):
    image = sorted((demo_set / 'val').glob('*/*'))[0]
    earlier = tmp_path / 'out' / 'attention' / (image.stem + '.png')
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b'an earlier picture')
    result = run_script('attention_map.py', '--model_file', str(best), '--image_path', str(image), '--output_dir',
                        str(tmp_path / 'out'), *SMALL_NET)
    assert_fault(result, f'holds the results of an earlier run (attention/{image.stem}.png)')
    assert earlier.read_bytes() == b'an earlier picture'


# export.py, predict.py, attention_map.py

@pytest.mark.parametrize('file_format', ['MINDIR', 'ONNX'])
def test_export_into_a_read_only_folder_is_refused_before_exporting(file_format, narrow_exports, read_only):
    assert_fault(run_script('export.py', '--ckpt_file', narrow_exports.ckpt, '--file_format', file_format,
                            '--file_name', str(read_only / 'net'), *NARROW), "cannot write into --file_name's folder")


@pytest.mark.parametrize('file_format', ['MINDIR', 'ONNX'])
def test_export_on_a_full_disk_writes_nothing(file_format, narrow_exports, tmp_path, mounts):
    folder = full_disk(mounts, tmp_path / 'out', 1024 * 1024, 64 * 1024)
    line = assert_fault(run_script('export.py', '--ckpt_file', narrow_exports.ckpt, '--file_format', file_format,
                                   '--file_name', str(folder / 'net'), *NARROW), 'No space left on device')
    assert 'nothing was written' in line and sorted(os.listdir(folder)) == ['.filler']


@pytest.mark.parametrize('program', ['export.py', 'predict.py', 'attention_map.py'])
def test_nan_weights_are_refused_everywhere(program, damaged, demo_set, tmp_path):
    image = demo_set / 'val' / 'n00000001'
    option = {'export.py': ('--ckpt_file', damaged['nan'], '--file_name', str(tmp_path / 'net')),
              'predict.py': ('--model_file', damaged['nan'], '--image_path', str(image)),
              'attention_map.py': ('--model_file', damaged['nan'], '--image_path', str(image), '--output_dir',
                                   str(tmp_path))}[program]
    assert_fault(run_script(program, *option, *SMALL_NET), 'holds NaN or infinite values')
    assert [name for _, _, names in os.walk(tmp_path) for name in names] == []


def test_export_without_onnx_runtime_says_how_to_install_it(narrow_exports, tmp_path):
    (tmp_path / 'onnxruntime').mkdir()
    (tmp_path / 'onnxruntime' / '__init__.py').write_text("raise ImportError('No module named onnxruntime')\n")
    result = run_script('export.py', '--ckpt_file', narrow_exports.ckpt, '--file_format', 'ONNX', '--file_name',
                        str(tmp_path / 'net'), *NARROW, env={'PYTHONPATH': str(tmp_path)})
    assert_fault(result, 'needs ONNX Runtime, which is not installed: pip install onnxruntime')
    assert not (tmp_path / 'net.onnx').exists()


@pytest.mark.parametrize('case, message', [
    ('read_only', "cannot write into the pictures' folder"),
    ('attention_is_a_file', 'is a file, not a folder'),
])
def test_attention_maps_check_their_folder_before_any_work(case, message, best, demo_set, tmp_path, mounts):
    output = tmp_path / 'out'
    if case == 'read_only':
        mounts(output, 'ro,size=1m')
    else:
        output.mkdir()
        (output / 'attention').write_text('x')
    assert_fault(run_script('attention_map.py', '--model_file', str(best), '--image_path',
                            str(demo_set / 'val' / 'n00000002'), '--output_dir', str(output), *SMALL_NET), message)


def test_predict_names_a_truncated_mindir(narrow_exports, demo_set, tmp_path):
    cut = tmp_path / 'cut.mindir'
    cut.write_bytes(open(narrow_exports.mindir, 'rb').read()[:5000])
    assert_fault(run_script('predict.py', '--model_file', str(cut), '--image_path', str(demo_set / 'val'), *NARROW),
                 'not a MINDIR export, or truncated')


# The tools without MindSpore, and the demo set.

def test_postprocess_does_not_score_nan_results(tmp_path):
    results = tmp_path / 'result_Files'
    results.mkdir()
    np.array([np.nan] * 10, np.float32).tofile(results / 'a_0.bin')
    np.arange(10, dtype=np.float32).tofile(results / 'b_0.bin')
    (tmp_path / 'labels.json').write_text('{"a": 1, "b": 9}')
    assert_fault(run_script('postprocess.py', '--result_path', str(results), '--label_path',
                            str(tmp_path / 'labels.json')), '1 of 2 result files hold NaN or infinite logits')


@pytest.mark.parametrize('case, message', [
    ('read_only', 'cannot write into --output_dir'),
    ('full', 'cannot write the demo set into'),
])
def test_demo_data_leaves_nothing_half_written(case, message, tmp_path, mounts):
    if case == 'read_only':
        output = mounts(tmp_path / 'demo', 'ro,size=1m')
    else:
        output = full_disk(mounts, tmp_path / 'demo', 256 * 1024, 128 * 1024)
    result = run_script('-m', 'src.data.demo_data', '--output_dir', str(output), '--train_per_class', '200',
                        '--image_size', '64')
    assert_fault(result, message)
    assert [name for name in os.listdir(output) if not name.startswith('.filler')] == []


def test_label_file_into_a_read_only_folder(demo_set, read_only):
    assert_fault(run_script('create_imagenet2012_label.py', '--img_path', str(demo_set / 'val'), '--output',
                            str(read_only / 'labels.json')), 'cannot write into the folder of --output')


# The inference flow (C++ app, label script, scripts/run_infer_cpu.sh) follows eval.py's rule on which files are
# images: hidden files are ignored, files the decoder cannot read are skipped and named.

@pytest.fixture(scope='module')
def val_with_bad_files(tmp_path_factory, fashion_photos):
    """Twelve good photos in the ten class folders the narrow model classifies (two in a and b, one in the others),
    next to an empty file, a JPEG cut short, a stray text file, a symbolic link that loops and a hidden ._ file such
    as macOS leaves on shared drives."""
    root = tmp_path_factory.mktemp('bad_files') / 'val'
    write_image_folder(root, fashion_photos, {'a': 2, 'b': 2, **ONE_PHOTO_EACH})
    photo = (root / 'a' / 'a_0.JPEG').read_bytes()
    (root / 'a' / 'empty.JPEG').write_bytes(b'')
    (root / 'b' / 'cut.JPEG').write_bytes(photo[:-8])  # a download cut short
    (root / 'b' / 'notes.txt').write_text('taken on holiday\n')
    os.symlink('loop.JPEG', root / 'c' / 'loop.JPEG')
    (root / 'a' / '._a_1.JPEG').write_bytes(b'\x00\x05\x16\x07' + bytes(80))
    return root


ONE_PHOTO_EACH = {name: 1 for name in 'cdefghij'}
GOOD_STEMS = {'a_0', 'a_1', 'b_2', 'b_3', *(f'{name}_{index}' for index, name in enumerate('cdefghij', start=4))}


def app(narrow_exports, data, output, *extra):
    return subprocess.run([INFER_APP, f'--model_path={narrow_exports.onnx}', f'--dataset_path={data}',
                           '--height=64', '--width=48', '--resize=73', f'--output_dir={output}', *extra],
                          capture_output=True, text=True, timeout=300, check=False)


def result_stems(output):
    return {name[:-len('_0.bin')] for name in os.listdir(output / 'result_Files')}


@pytest.mark.usefixtures('repository_build')
def test_the_app_skips_and_names_files_it_cannot_decode(infer_app_build, narrow_exports, val_with_bad_files,
                                                        tmp_path):
    result = app(narrow_exports, val_with_bad_files, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result_stems(tmp_path) == GOOD_STEMS
    assert result.stderr.strip() == (f'skipped 3 of 15 files in {val_with_bad_files} that cannot be decoded: '
                                     f'a/empty.JPEG: empty file; b/cut.JPEG: truncated JPEG (no end-of-image marker); '
                                     f'c/loop.JPEG: cannot be opened (Too many levels of symbolic links)')
    assert 'images: 12 of 3x64x48' in result.stdout


@pytest.mark.usefixtures('repository_build')
def test_label_script_app_and_eval_rule_agree_on_the_same_images(infer_app_build, narrow_exports,
                                                                 val_with_bad_files, tmp_path):
    import json

    from src.data.image_folder import read_image_folder, split_readable
    env = dict(os.environ, OUTPUT_DIR=str(tmp_path / 'infer'), PYTHON=sys.executable)
    result = subprocess.run(['bash', os.path.join(REPO, 'scripts', 'run_infer_cpu.sh'), narrow_exports.onnx,
                             str(val_with_bad_files), '64', '48'], capture_output=True, text=True, env=env,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Total data: 12, top1 accuracy' in result.stdout
    assert (f'skipped 4 of 16 files in {val_with_bad_files} that cannot be decoded: a/empty.JPEG: empty file; '
            f'b/cut.JPEG: truncated JPEG (no end-of-image marker); b/notes.txt: not an image (content of no known image '
            f'format); c/loop.JPEG: cannot be opened (Too many levels of symbolic links)') in result.stdout
    eval_reads, _ = split_readable(read_image_folder(str(val_with_bad_files)).samples)  # what eval.py scores
    labels = json.loads((tmp_path / 'infer' / 'imagenet_label.json').read_text())
    assert set(labels) == result_stems(tmp_path / 'infer') == GOOD_STEMS == \
        {os.path.splitext(os.path.basename(path))[0] for path, _ in eval_reads}
    assert (tmp_path / 'infer' / 'image_list.txt').read_text().splitlines() == sorted(
        f'{stem[0]}/{stem}.JPEG' for stem in GOOD_STEMS)


@pytest.mark.parametrize('case, status, message', [
    ('list_names_a_missing_file', 2, 'names b/gone.JPEG, which is not a file under'),
    ('empty_list', 2, 'names no images'),
    ('no_list', 2, 'cannot read --image_list'),
    ('nothing_decodable', 1, 'none of the 2 files under'),
    ('output_dir_is_a_file', 1, 'cannot create folder'),
])
@pytest.mark.usefixtures('repository_build')
def test_the_app_refuses_in_one_line(case, status, message, infer_app_build, narrow_exports, val_with_bad_files,
                                     tmp_path):
    data, output, extra = val_with_bad_files, tmp_path / 'out', []
    if case == 'list_names_a_missing_file':
        (tmp_path / 'list.txt').write_text('a/a_0.JPEG\nb/gone.JPEG\n')
        extra = [f'--image_list={tmp_path / "list.txt"}']
    elif case == 'empty_list':
        (tmp_path / 'list.txt').write_text('\n')
        extra = [f'--image_list={tmp_path / "list.txt"}']
    elif case == 'no_list':
        extra = [f'--image_list={tmp_path / "no_such_list.txt"}']
    elif case == 'nothing_decodable':
        data = tmp_path / 'broken'
        data.mkdir()
        (data / 'empty.jpg').write_bytes(b'')
        (data / 'text.png').write_text('not a picture')
    else:
        output.write_text('a file where the output folder should be')
    result = app(narrow_exports, data, output, *extra)
    assert_fault(result, message, status)
    assert not (tmp_path / 'out' / 'result_Files').exists() or case == 'nothing_decodable'


@pytest.mark.parametrize('case, message', [
    ('output_dir_is_a_file', 'cannot write into OUTPUT_DIR'),
    ('every_image_broken', 'no image of class folder a can be decoded'),
])
@pytest.mark.usefixtures('repository_build')
def test_the_inference_script_stops_before_the_app_with_the_reason(case, message, narrow_exports, fashion_photos,
                                                                   tmp_path):
    data = tmp_path / 'val'
    write_image_folder(data, fashion_photos, ONE_PHOTO_EACH | {'b': 1})  # the model's ten classes, a all broken
    (data / 'a').mkdir(parents=True)
    (data / 'a' / 'empty.JPEG').write_bytes(b'')
    output = tmp_path / 'infer'
    if case == 'output_dir_is_a_file':
        output.write_text('a file where the output folder should be')
    env = dict(os.environ, OUTPUT_DIR=str(output), PYTHON=sys.executable)
    result = subprocess.run(['bash', os.path.join(REPO, 'scripts', 'run_infer_cpu.sh'), narrow_exports.onnx,
                             str(data), '64', '48'], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and 'Traceback' not in result.stdout + result.stderr
    assert '[infer]' not in result.stdout


FINISHED_THEN_SIGNALLED = """
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
from src.utils.interrupts import answer_signals_if_main
answer_signals_if_main(__name__)
import atexit
from src.utils.errors import run_main

def main():
    print('results written', flush=True)

atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(2)))  # Ctrl-C as the program ends
run_main(main)
"""


def test_ctrl_c_after_a_command_finished_does_not_call_it_interrupted():
    """A Ctrl-C that lands after main() returned (its results and report written, the interpreter ending): the
    command's own status and no "interrupted" line, which would say results were lost that were written."""
    result = subprocess.run([sys.executable, '-c', FINISHED_THEN_SIGNALLED, REPO], capture_output=True, text=True,
                            timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, 'results written\n', '')

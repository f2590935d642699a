"""Faults of the deployment flow met by a careless user (scripts/run_infer_cpu.sh, the C++ app, the label script,
postprocess.py, and the scripts around eval.py): a val set of another class count, relative paths from another
folder, a model the app cannot run, a line break in a file name, long runs without a word. Each case runs the real
script or entry point in a subprocess on small real data (Fashion-MNIST photos, the narrow 10-class export)."""
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import INFER_APP, NARROW_MODEL, REPO, write_image_folder

pytestmark = pytest.mark.fault

HEIGHT, WIDTH = 64, 48  # the narrow export's input
APP_NAME = os.path.basename(INFER_APP)
LINE_BREAK_NAME = 'c0/two\nlines.JPEG'
PROGRESS = r'  {}: (\d+) of (\d+) images, [\d.]+ images/s, ETA \d+:\d\d:\d\d'


def run(command, cwd=REPO, **variables):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, PYTHON=sys.executable, **variables))


def cpu_flow(*arguments, cwd=REPO, output_dir):
    return run(['bash', os.path.join(REPO, 'scripts', 'run_infer_cpu.sh'), *map(str, arguments)], cwd=cwd,
               OUTPUT_DIR=str(output_dir))


def app(model, data, output_dir, *extra):
    return run([INFER_APP, f'--model_path={model}', f'--dataset_path={data}', f'--height={HEIGHT}', f'--width={WIDTH}',
                '--resize=73', f'--output_dir={output_dir}', *extra])


def label_script(data, output_dir, *extra):
    return run([sys.executable, os.path.join(REPO, 'create_imagenet2012_label.py'), '--img_path', str(data),
                '--output', str(output_dir / 'labels.json'), '--image_list', str(output_dir / 'images.txt'), *extra])


def only_error_line(result, status=2):
    """The one stderr line of a refusal with `status`, without a traceback."""
    assert result.returncode == status, result.stdout[-2000:] + result.stderr[-2000:]
    assert 'Traceback' not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope='module')
def five_classes(tmp_path_factory, fashion_photos):
    """A val set of 5 class folders, 2 photos each: not the narrow export's 10 classes."""
    return write_image_folder(tmp_path_factory.mktemp('five') / 'val', fashion_photos,
                              {f'c{index}': 2 for index in range(5)})


@pytest.fixture(scope='module')
def ten_classes_and_a_line_break(tmp_path_factory, fashion_photos):
    """A val set of the narrow export's 10 classes, one photo each, plus a photo whose file name holds a line break."""
    root = tmp_path_factory.mktemp('line_break') / 'val'
    write_image_folder(root, fashion_photos, {f'c{index}': 1 for index in range(10)})
    (root / LINE_BREAK_NAME).write_bytes((root / 'c1' / 'c1_1.JPEG').read_bytes())
    return root


def line_break_report(folder):
    return (f'skipped 1 file in {folder} whose name holds a line break, which a list of one path per line cannot '
            f'carry; rename it: c0/two\\nlines.JPEG')


@pytest.mark.usefixtures('repository_build')
def test_a_val_set_of_another_class_count_is_refused_as_eval_refuses_it(infer_app_build, narrow_exports,
                                                                        five_classes, tmp_path):
    refused = 'has 5 class folders but the network classifies 10 classes'
    # The flow reads the class count of the ONNX export and stops in its label step, before building the app.
    flow = cpu_flow(narrow_exports.onnx, five_classes, HEIGHT, WIDTH, output_dir=tmp_path / 'flow')
    assert flow.returncode == 2, flow.stdout + flow.stderr
    assert refused in flow.stderr and 'Traceback' not in flow.stderr
    assert '[build]' not in flow.stdout and '[infer]' not in flow.stdout and 'top1' not in flow.stdout
    # The app, told the val set's class count (as the flow does for a MINDIR), refuses before classifying.
    line = only_error_line(app(narrow_exports.onnx, five_classes, tmp_path / 'app', '--num_classes=5'))
    assert f'{narrow_exports.onnx} classifies 10 classes but the val set has 5 class folders (--num_classes)' in line
    assert not (tmp_path / 'app' / 'result_Files').exists()
    # postprocess.py refuses results of 10 logits against the labels of 5 classes.
    classified = app(narrow_exports.onnx, five_classes, tmp_path / 'app')
    assert classified.returncode == 0, classified.stderr
    assert label_script(five_classes, tmp_path).returncode == 0
    line = only_error_line(run([sys.executable, os.path.join(REPO, 'postprocess.py'), '--result_path',
                                str(tmp_path / 'app' / 'result_Files'), '--label_path', str(tmp_path / 'labels.json')]))
    assert f'{tmp_path / "labels.json"} labels 5 classes but the results hold 10 logits each' in line


def test_the_eval_script_writes_where_a_relative_output_dir_points_from_the_callers_folder(narrow_exports,
                                                                                           five_classes, tmp_path):
    caller = tmp_path / 'caller'
    caller.mkdir()
    os.symlink(narrow_exports.ckpt, caller / 'narrow.ckpt')
    os.symlink(five_classes, caller / 'val')
    output = f'out_{tmp_path.name}'  # a name no other run uses, in case it lands in the repository
    # --device_target CPU after the script's own: eval.py (the last one counts) runs here and refuses the 5 classes
    # once it has written its settings into --output_dir.
    result = run(['bash', os.path.join(REPO, 'scripts', 'run_eval.sh'), 'narrow.ckpt', 'val', '--device_target', 'CPU',
                  *NARROW_MODEL, '--output_dir', output], cwd=caller)
    assert result.returncode == 2, result.stdout[-3000:]
    assert 'has 5 class folders but the network classifies 10 classes' in result.stdout  # tee'd from the log
    log = re.search(r'\(log: (.+)\)$', result.stdout, re.MULTILINE).group(1)
    assert log == str(caller / output / 'logs' / 'eval.log') and os.path.isfile(log)
    assert (caller / output / 'eval_config.json').is_file()
    assert not os.path.exists(os.path.join(REPO, output))


@pytest.mark.parametrize('arguments, output_dir', [
    ([], 'output'),
    (['--config', 'recipe.yaml'], 'from_recipe'),
    (['--config', 'recipe.yaml', '--output_dir', 'from_option'], 'from_option'),
    (['--config', 'missing.yaml'], 'output'),  # the command says what is wrong, in ./output/logs
])
def test_the_scripts_keep_a_log_where_the_command_writes(arguments, output_dir, tmp_path):
    (tmp_path / 'recipe.yaml').write_text('output_dir: from_recipe\nepoch_size: 2\n')
    found = run(['bash', '-c', f'source {REPO}/scripts/common.sh; output_dir_of --batch_size 8 "$@"', 'bash',
                 *arguments], cwd=tmp_path)
    assert found.returncode == 0 and found.stdout == f'{tmp_path / output_dir}\n', found.stdout + found.stderr


@pytest.mark.usefixtures('repository_build')
def test_the_cpu_flow_from_another_folder_skips_and_names_a_file_with_a_line_break(infer_app_build, narrow_exports,
                                                                                   ten_classes_and_a_line_break,
                                                                                   tmp_path):
    caller = tmp_path / 'caller'
    caller.mkdir()
    os.symlink(narrow_exports.onnx, caller / 'narrow.onnx')
    os.symlink(ten_classes_and_a_line_break, caller / 'val')
    result = cpu_flow('narrow.onnx', 'val', HEIGHT, WIDTH, cwd=caller, output_dir='infer')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert line_break_report(caller / 'val') in result.stdout.splitlines()
    assert 'Total data: 10, top1 accuracy' in result.stdout
    assert result.stdout.rstrip().endswith(f'logs and results: {caller / "infer"}')
    listed = (caller / 'infer' / 'image_list.txt').read_text().splitlines()
    assert len(listed) == 10 and all((caller / 'val' / image).is_file() for image in listed)
    assert len(os.listdir(caller / 'infer' / 'result_Files')) == 10


@pytest.mark.usefixtures('repository_build')
def test_the_app_says_in_its_first_line_what_is_wrong_with_the_model(infer_app_build, narrow_exports, five_classes,
                                                                     tmp_path):
    # OpenCV's own account, many lines, comes after the app's line, indented.
    result = app(narrow_exports.mindir, five_classes, tmp_path)
    assert result.returncode == 1, result.stderr
    first, *opencv = result.stderr.splitlines()
    assert first == (f'{APP_NAME}: error: OpenCV DNN cannot load {narrow_exports.mindir} (an ONNX export is needed); '
                     f'export the checkpoint with export.py --file_format ONNX')
    assert opencv and all(line.startswith('  ') for line in opencv)
    result = app(narrow_exports.onnx, five_classes, tmp_path, '--height=32', '--width=32', '--resize=32')
    assert result.returncode == 1, result.stderr
    first, *opencv = result.stderr.splitlines()
    assert first == (f"{APP_NAME}: error: OpenCV DNN cannot run {narrow_exports.onnx} on 32x32 images; is that the "
                     f"export's input size? Pass its export.py --image_height and --image_width as --height and "
                     f"--width")
    assert opencv and all(line.startswith('  ') for line in opencv)
    assert not (tmp_path / 'result_Files').exists()
    # The flow reads the export's input size first: the default 224 x 224 is refused before anything runs.
    line = only_error_line(cpu_flow(narrow_exports.onnx, five_classes, output_dir=tmp_path / 'flow'))
    assert line == (f'run_infer_cpu.sh: error: {narrow_exports.onnx} takes 64x48 images, not 224x224; pass '
                    f'IMAGE_HEIGHT IMAGE_WIDTH 64 48 (its export.py --image_height and --image_width)')
    assert not (tmp_path / 'flow').exists()


@pytest.mark.usefixtures('repository_build')
def test_progress_and_line_breaks_of_the_label_script_and_the_app(infer_app_build, narrow_exports,
                                                                  ten_classes_and_a_line_break, tmp_path):
    folder = ten_classes_and_a_line_break
    labelled = label_script(folder, tmp_path, '--progress_seconds', '0')
    assert labelled.returncode == 0, labelled.stderr
    assert labelled.stdout.splitlines()[0] == line_break_report(folder)
    assert len(json.loads((tmp_path / 'labels.json').read_text())) == 10
    checked = [re.fullmatch(PROGRESS.format('checking'), line) for line in labelled.stderr.splitlines()]
    assert all(checked) and [match.group(1, 2) for match in checked] == [(str(done), '10') for done in range(1, 10)]

    classified = app(narrow_exports.onnx, folder, tmp_path / 'app', '--progress_seconds=0')
    assert classified.returncode == 0, classified.stderr
    lines = classified.stderr.splitlines()
    assert lines[0] == line_break_report(folder)
    progress = [re.fullmatch(PROGRESS.format('classifying'), line) for line in lines[1:]]
    assert all(progress) and [match.group(1, 2) for match in progress] == [(str(done), '10') for done in range(1, 10)]
    assert len(os.listdir(tmp_path / 'app' / 'result_Files')) == 10

    # The flow keeps each step's output in its log and shows the progress lines as they come.
    shown = run(['bash', '-c', f'source {REPO}/scripts/infer_common.sh; LOG_DIR={tmp_path}; run_step label printf '
                               f'"  checking: 1 of 2 images, 5.0 images/s, ETA 0:00:00\\nwrote the labels\\n"'])
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr == '[label] checking: 1 of 2 images, 5.0 images/s, ETA 0:00:00\n'
    assert (tmp_path / 'label.log').read_text().endswith('wrote the labels\n')

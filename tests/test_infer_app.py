"""The C++ inference app (cpu backend: OpenCV DNN on the ONNX export) and scripts/run_infer_cpu.sh: built with
CMake, run on real JPEGs, compared with MindSpore on the same inputs, scored like MindSpore. The Ascend 310
backend (MindSpore Lite) is compiled against Lite's headers when MINDSPORE_LITE_PATH names a Lite package."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import INFER_APP, INFER_APP_DIR, NARROW_MODEL, REPO
from src.config import parse_config

pytestmark = pytest.mark.usefixtures('repository_build')

APP_DIR, APP = INFER_APP_DIR, INFER_APP
HEIGHT, WIDTH = 64, 48  # NARROW_MODEL's input
RESIZE = 73  # src.data.dataset.eval_resize_size(64, 48)
NON_SQUARE = {'n00000002/wide.JPEG': (90, 40), 'n00000005/tall.JPEG': (40, 70)}  # (width, height)
# A photo whose EXIF says "rotate 90 degrees": MindSpore's Decode ignores that, so the app must too.
EXIF_ROTATED = 'n00000007/rotated.JPEG'
EXIF_ORIENTATION, ROTATE_90 = 0x0112, 6


def run(command, timeout=300, env=None):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                          env=dict(os.environ, **(env or {})))


@pytest.fixture(scope='module')
def build_output(infer_app_build):
    return infer_app_build


@pytest.fixture(scope='module')
def val_images(tmp_path_factory):
    """One real photo per class (square 40 x 40 JPEGs) plus two non-square ones and an EXIF-rotated one, in
    class folders."""
    from PIL import Image

    from src.data.demo_data import build_demo_data
    root = tmp_path_factory.mktemp('infer_data')
    val = build_demo_data(str(root), train_per_class=1, val_per_class=1, image_size=40, seed=5)['val']
    photo = Image.open(os.path.join(val, 'n00000000', os.listdir(os.path.join(val, 'n00000000'))[0]))
    for name, size in NON_SQUARE.items():
        photo.resize(size, Image.BILINEAR).save(os.path.join(val, name), quality=90)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90
    photo.resize((60, 40), Image.BILINEAR).save(os.path.join(val, EXIF_ROTATED), quality=90, exif=exif.tobytes())
    return val


def image_files(folder):
    return sorted(os.path.join(root, name) for root, _, names in os.walk(folder) for name in names)


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


@pytest.fixture(scope='module')
def narrow_network(narrow_exports):
    from src.deploy.inference import network_from_checkpoint
    return network_from_checkpoint(parse_config('test', list(NARROW_MODEL)), narrow_exports.ckpt)


@pytest.fixture(scope='module')
def app_run(build_output, narrow_exports, val_images, tmp_path_factory):
    output = tmp_path_factory.mktemp('app_run')
    result = run([APP, f'--model_path={narrow_exports.onnx}', f'--dataset_path={val_images}', f'--height={HEIGHT}',
                  f'--width={WIDTH}', f'--resize={RESIZE}', f'--output_dir={output}', '--dump_input'])
    assert result.returncode == 0, result.stderr
    return output, result.stdout


LITE_PATH = os.environ.get('MINDSPORE_LITE_PATH')


@pytest.mark.skipif(not LITE_PATH, reason='set MINDSPORE_LITE_PATH to a MindSpore Lite package (runtime/include/api/) '
                                          'to compile the Ascend 310 backend against its headers')
def test_the_ascend_backend_compiles_against_mindspore_lite_without_warnings():
    opencv = run(['pkg-config', '--cflags', 'opencv4']).stdout.split()
    result = run(['g++', '-std=c++17', '-fsyntax-only', '-Wall', '-Wextra', '-Werror', '-DWITH_ASCEND_BACKEND',
                  '-I', APP_DIR, '-isystem', os.path.join(LITE_PATH, 'runtime'), *opencv,
                  os.path.join(APP_DIR, 'src', 'ascend_backend.cc')])
    assert result.returncode == 0, result.stderr


def test_a_folder_that_is_no_lite_package_is_refused(tmp_path):
    (tmp_path / 'runtime' / 'lib').mkdir(parents=True)
    result = run(['bash', os.path.join(APP_DIR, 'build.sh'), '--lite_path', str(tmp_path)], timeout=120)
    assert result.returncode != 0 and 'is not a MindSpore Lite package: it needs runtime/include/api/model.h' in \
        ' '.join(result.stderr.split())


def test_the_310_script_needs_mindspore_lite_and_a_model(tmp_path):
    (tmp_path / 'runtime' / 'lib').mkdir(parents=True)
    result = run(['bash', os.path.join(REPO, 'scripts', 'run_infer_310.sh'), 'model.mindir', str(tmp_path)],
                 env={'MINDSPORE_LITE_PATH': str(tmp_path), 'OUTPUT_DIR': str(tmp_path / 'out'),
                      'PYTHON': sys.executable})
    assert result.returncode == 2 and 'MINDIR file model.mindir does not exist' in result.stderr
    result = run(['bash', os.path.join(REPO, 'scripts', 'run_infer_310.sh'), str(tmp_path), str(tmp_path)],
                 env={'MINDSPORE_LITE_PATH': '', 'PYTHON': sys.executable})
    assert result.returncode == 2 and 'set MINDSPORE_LITE_PATH to the MindSpore Lite package' in result.stderr


def test_the_build_says_the_ascend_backend_is_left_out(build_output):
    assert 'Ascend 310 backend: OFF' in build_output
    assert os.access(APP, os.X_OK)


def test_app_writes_one_logits_file_per_image_and_a_latency_report(app_run, val_images):
    output, stdout = app_run
    expected = sorted(f'{stem(path)}_0.bin' for path in image_files(val_images))
    assert sorted(os.listdir(output / 'result_Files')) == expected
    report = (output / 'time_Result' / 'latency.txt').read_text()
    assert report in stdout
    assert f'images: {len(expected)} of 3x{HEIGHT}x{WIDTH}, classes: 10' in report
    assert re.search(r'inference: average [\d.]+ ms/image, median [\d.]+ ms/image', report)


def test_app_preprocesses_like_the_eval_pipeline(app_run, val_images):
    from src.data.dataset import eval_transforms
    output, _ = app_run
    for path in image_files(val_images):
        expected = np.fromfile(path, dtype=np.uint8)
        for transform in eval_transforms(HEIGHT, WIDTH):
            expected = transform(expected)
        got = np.fromfile(output / 'input_Files' / f'{stem(path)}.bin', dtype=np.float32)
        np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=0, atol=1e-5, err_msg=path)


def test_app_logits_match_mindspore_on_the_same_input(app_run, val_images, narrow_network):
    from src.deploy.inference import logits
    output, _ = app_run
    stems = [stem(path) for path in image_files(val_images)]
    inputs = np.stack([np.fromfile(output / 'input_Files' / f'{name}.bin', dtype=np.float32) for name in stems])
    expected = logits(narrow_network, inputs.reshape(len(stems), 3, HEIGHT, WIDTH))
    got = np.stack([np.fromfile(output / 'result_Files' / f'{name}_0.bin', dtype=np.float32) for name in stems])
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def mindspore_accuracy(network, folder):
    """Top-1/top-5 of the network over the folder, through the eval transforms, as postprocess formats them."""
    from src.data.dataset import eval_transforms
    from src.data.image_folder import labelled_images
    from src.deploy.inference import logits
    labels = labelled_images(folder).labels
    paths = image_files(folder)
    batch = []
    for path in paths:
        image = np.fromfile(path, dtype=np.uint8)
        for transform in eval_transforms(HEIGHT, WIDTH):
            image = transform(image)
        batch.append(image)
    ranked = np.argsort(-logits(network, np.stack(batch)), axis=1)[:, :5]
    hits = ranked == np.array([labels[stem(path)] for path in paths])[:, None]
    return f'{hits[:, 0].mean():.5f}', f'{hits.any(axis=1).mean():.5f}'


def script_env(tmp_path):
    return {'OUTPUT_DIR': str(tmp_path / 'infer'), 'PYTHON': sys.executable}


def test_cpu_script_scores_like_mindspore(build_output, narrow_exports, val_images, narrow_network, tmp_path):
    result = run(['bash', os.path.join(REPO, 'scripts', 'run_infer_cpu.sh'), narrow_exports.onnx, val_images,
                  str(HEIGHT), str(WIDTH)], env=script_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    top1, top5 = mindspore_accuracy(narrow_network, val_images)
    total = len(image_files(val_images))
    assert f'Total data: {total}, top1 accuracy: {top1}, top5 accuracy: {top5}.' in result.stdout
    logs = tmp_path / 'infer' / 'logs'
    assert sorted(os.listdir(logs)) == ['acc.log', 'build.log', 'infer.log', 'label.log']
    assert (logs / 'acc.log').read_text().startswith(f'Total data: {total},')


def test_cpu_script_stops_at_the_failing_step(build_output, narrow_exports, val_images, tmp_path):
    # A checkpoint is no ONNX file: the infer step fails, its log is kept, and the script exits non-zero.
    result = run(['bash', os.path.join(REPO, 'scripts', 'run_infer_cpu.sh'), narrow_exports.ckpt, val_images,
                  str(HEIGHT), str(WIDTH)], env=script_env(tmp_path))
    assert result.returncode != 0
    assert '[infer] failed' in result.stderr and 'OpenCV DNN cannot load' in result.stderr
    assert (tmp_path / 'infer' / 'logs' / 'infer.log').exists()
    assert '[acc]' not in result.stdout


@pytest.mark.parametrize('arguments', [[], ['model.onnx'], ['model.onnx', 'data', '64'],
                                       ['model.onnx', 'data', '64', '64', '1', 'extra']])
def test_cpu_script_prints_its_usage_on_wrong_arguments(arguments):
    result = run(['bash', os.path.join(REPO, 'scripts', 'run_infer_cpu.sh'), *arguments])
    assert result.returncode == 2
    assert result.stderr.startswith('usage: bash scripts/run_infer_cpu.sh ONNX_PATH DATA_PATH')


@pytest.mark.parametrize('crop', ['0', '1.5', 'whole'])
def test_cpu_script_rejects_a_bad_crop_pct(crop, narrow_exports, val_images):
    result = run(['bash', os.path.join(REPO, 'scripts', 'run_infer_cpu.sh'), narrow_exports.onnx, val_images,
                  str(HEIGHT), str(WIDTH), crop])
    assert result.returncode == 2
    assert f"CROP_PCT must be a number in (0, 1] (the evaluation's --crop_pct), got '{crop}'" in result.stderr


@pytest.mark.parametrize('arguments, status, message', [
    ([], 2, '--model_path is required'),
    (['--model_path=m.onnx', '--dataset_path=/no/such/folder'], 2, 'is not a folder'),
    (['--model_path=m.onnx', '--dataset_path=.', '--height=300'], 2, '--resize (256) must be at least --height'),
    (['--model_path=m.onnx', '--dataset_path=.', '--width=abc'], 2, '--width must be an integer'),
    (['--model_path=m.onnx', '--dataset_path=.', '--backend=ascend'], 2, 'ascend backend is not in this build'),
    (['--model_path=m.onnx', '--dataset_path=.', '--colour=red'], 2, 'unknown option --colour'),
])
def test_app_rejects_bad_arguments(build_output, arguments, status, message):
    result = run([APP, *arguments])
    assert result.returncode == status
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_app_names_a_model_it_cannot_load(build_output, narrow_exports, val_images, tmp_path):
    result = run([APP, f'--model_path={narrow_exports.mindir}', f'--dataset_path={val_images}',
                  f'--output_dir={tmp_path}'])
    assert result.returncode == 1
    assert f'OpenCV DNN cannot load {narrow_exports.mindir} (an ONNX export is needed)' in result.stderr


def test_app_and_postprocess_agree_with_eval_on_a_trained_checkpoint(build_output, trained_run, demo_set, tmp_path):
    """The whole deployment flow on a checkpoint trained in the tests: eval.py's top-1 on the val folder, and
    export -> C++ app -> postprocess on the same folder, within one point."""
    from conftest import SMALL_NET, TRAINED_EPOCHS, checkpoint, run_script
    ckpt = str(checkpoint(trained_run[0], TRAINED_EPOCHS))
    evaluated = run_script('eval.py', '--checkpoint_path', ckpt, '--val_data_path', str(demo_set / 'val'),
                           '--output_dir', str(tmp_path / 'eval'), *SMALL_NET)
    assert evaluated.returncode == 0, evaluated.stderr
    eval_top1 = float(re.search(r'top1 (\d\.\d+)', evaluated.stdout).group(1))
    exported = run_script('export.py', '--ckpt_file', ckpt, '--file_format', 'ONNX', '--file_name',
                          str(tmp_path / 'trained'), *SMALL_NET)
    assert exported.returncode == 0, exported.stderr
    result = run(['bash', os.path.join(REPO, 'scripts', 'run_infer_cpu.sh'), str(tmp_path / 'trained.onnx'),
                  str(demo_set / 'val'), '32', '32'], env=script_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    app_top1 = float(re.search(r'top1 accuracy: (\d\.\d+)', result.stdout).group(1))
    assert eval_top1 > 0.3  # trained, so the comparison means something
    assert abs(app_top1 - eval_top1) <= 0.01

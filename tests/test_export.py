"""export.py: MINDIR and ONNX with a dynamic batch (or a fixed one) that reproduce the checkpoint, atomic writes,
clear errors."""
import os
import re

import numpy as np
import pytest

from conftest import NARROW_MODEL, run_script
from src.config import parse_config


def narrow_config(*extra):
    return parse_config('test', [*NARROW_MODEL, *extra])


@pytest.fixture(scope='module')
def narrow_network(narrow_exports):
    from src.deploy.inference import network_from_checkpoint
    return network_from_checkpoint(narrow_config(), narrow_exports.ckpt)


def random_images(batch, seed=0):
    return np.random.default_rng(seed).standard_normal((batch, 3, 64, 48), dtype=np.float32)


def relative_difference(got, expected):
    return float(np.abs(got - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize('file_format', ['MINDIR', 'ONNX'])
def test_export_prints_its_check_at_batch_1_and_3(narrow_exports, file_format):
    stdout = narrow_exports.stdout[file_format]
    for batch in (1, 3):
        assert re.search(rf'batch {batch}: max \|difference\| \S+, \S+ of the largest logit', stdout), stdout
    assert f'Exported {getattr(narrow_exports, file_format.lower())}' in stdout
    # Only the finished files: no temporary file is left beside them.
    assert not [name for name in os.listdir(os.path.dirname(narrow_exports.ckpt)) if name.startswith('.partial')]


@pytest.mark.parametrize('batch', [1, 3])
def test_mindir_runs_at_any_batch_like_the_checkpoint(narrow_exports, narrow_network, batch):
    from src.deploy.inference import logits, network_from_mindir
    images = random_images(batch, seed=batch)
    exported = logits(network_from_mindir(narrow_exports.mindir), images)
    expected = logits(narrow_network, images)
    assert exported.shape == (batch, 10)
    assert relative_difference(exported, expected) <= 1e-5


@pytest.mark.parametrize('batch', [1, 3])
def test_onnx_runs_in_onnx_runtime_at_any_batch_like_the_checkpoint(narrow_exports, narrow_network, batch):
    import onnxruntime
    from src.deploy.inference import logits
    images = random_images(batch, seed=10 + batch)
    session = onnxruntime.InferenceSession(narrow_exports.onnx, providers=['CPUExecutionProvider'])
    exported = session.run(None, {'input': images})[0]
    expected = logits(narrow_network, images)
    assert exported.shape == (batch, 10)
    assert relative_difference(exported, expected) <= 1e-4


def test_onnx_declares_a_symbolic_batch_on_input_and_output(narrow_exports):
    import onnx
    graph = onnx.load(narrow_exports.onnx).graph
    for value in (graph.input[0], graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == 'batch' and not dims[0].HasField('dim_value')
    assert [dim.dim_value for dim in graph.input[0].type.tensor_type.shape.dim[1:]] == [3, 64, 48]


@pytest.fixture(scope='module')
def fixed_batch_exports(narrow_exports, tmp_path_factory):
    """{format: (path, export.py's stdout)} of the narrow checkpoint exported with --dynamic_batch false."""
    root = tmp_path_factory.mktemp('fixed_batch')
    exports = {}
    for file_format in ('MINDIR', 'ONNX'):
        result = run_script('export.py', '--ckpt_file', narrow_exports.ckpt, '--file_format', file_format,
                            '--dynamic_batch', 'false', '--file_name', str(root / 'fixed'), *NARROW_MODEL)
        assert result.returncode == 0, result.stderr
        exports[file_format] = (str(root / f'fixed.{file_format.lower()}'), result.stdout)
    return exports


@pytest.mark.parametrize('file_format', ['MINDIR', 'ONNX'])
def test_a_fixed_batch_export_is_checked_at_its_batch_of_1(fixed_batch_exports, file_format):
    _, stdout = fixed_batch_exports[file_format]
    assert f'to {file_format}, input (batch 1, 3, 64, 48)' in stdout
    assert re.search(r'batch 1: max \|difference\|', stdout) and 'batch 3:' not in stdout


def test_a_fixed_batch_mindir_runs_at_batch_1_only(fixed_batch_exports, narrow_network):
    from src.deploy.inference import logits, network_from_mindir
    exported = network_from_mindir(fixed_batch_exports['MINDIR'][0])
    images = random_images(1, seed=21)
    assert relative_difference(logits(exported, images), logits(narrow_network, images)) <= 1e-5
    with pytest.raises(RuntimeError):
        logits(exported, random_images(2))


def test_a_fixed_batch_onnx_declares_batch_1(fixed_batch_exports):
    import onnx
    graph = onnx.load(fixed_batch_exports['ONNX'][0]).graph
    assert [dim.dim_value for dim in graph.input[0].type.tensor_type.shape.dim] == [1, 3, 64, 48]
    assert [dim.dim_value for dim in graph.output[0].type.tensor_type.shape.dim] == [1, 10]


def test_a_file_that_fails_its_check_is_not_kept(narrow_exports, narrow_network, tmp_path, monkeypatch):
    from src.deploy import export
    target = tmp_path / 'model.onnx'
    target.write_bytes(b'the previous export')
    monkeypatch.setitem(export.TOLERANCE, 'ONNX', -1.0)  # no difference passes
    with pytest.raises(export.ExportCheckFailed, match='differs from the checkpoint'):
        export.export_and_check(narrow_network, narrow_config('--file_format', 'ONNX'), str(target))
    assert target.read_bytes() == b'the previous export'
    assert os.listdir(tmp_path) == ['model.onnx']


def one_line_error(result):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize('arguments, message', [
    ([], '--ckpt_file is required'),
    (['--ckpt_file', 'no/such.ckpt'], '--ckpt_file no/such.ckpt does not exist'),
    (['--ckpt_file', 'export.py', '--file_format', 'TFLITE'], "invalid choice: 'TFLITE'"),
])
def test_bad_command_lines_fail_on_one_line(arguments, message):
    assert message in one_line_error(run_script('export.py', *arguments))


def test_a_file_name_mindspore_cannot_write_is_refused(narrow_exports, tmp_path):
    line = one_line_error(run_script('export.py', '--ckpt_file', narrow_exports.ckpt,
                                     '--file_name', str(tmp_path / 'my model'), *NARROW_MODEL))
    assert 'MindSpore writes only paths of letters' in line


def test_air_needs_the_ascend_backend(narrow_exports, tmp_path):
    line = one_line_error(run_script('export.py', '--ckpt_file', narrow_exports.ckpt, '--file_format', 'AIR',
                                     '--file_name', str(tmp_path / 'model'), *NARROW_MODEL))
    assert "AIR needs MindSpore's Ascend backend" in line and 'export MINDIR or ONNX' in line
    assert not os.listdir(tmp_path)


def test_a_checkpoint_of_another_network_is_named(narrow_exports, tmp_path):
    line = one_line_error(run_script('export.py', '--ckpt_file', narrow_exports.ckpt, '--num_classes', '5',
                                     '--base_width', '16', '--file_name', str(tmp_path / 'model'),
                                     '--device_target', 'CPU'))
    assert 'does not fit the network' in line and 'fc.weight' in line
    assert not os.listdir(tmp_path)

"""The authors' whole family (src/models/family.py): ResNet-18, 34, 50 and 101, alone, with BAM or with CBAM, on
the ImageNet and the CIFAR stem. Each network create_model builds is their model (src/convert/official_resnet_torch.py,
a transcription of their code): the same parameter names and shapes and, loaded with the same weights, the same
logits (relative 1e-4), the ImageNet stem at 224x224 and the CIFAR stem at 32x32, where their fixed average pools
equal the global one. Compared at width 16 (theirs is 64): every layer and module is there, at a cost the suite's
budget takes."""
import os

import numpy as np
import pytest

import mindspore as ms

from src.config import parse_config
from src.convert.official_weights import official_to_mindspore
from src.engine.checkpoint import architecture, load_weights, save_atomically
from src.models import create_model
from src.models.family import ARCHS, STEMS, width_step
from src.utils.errors import UsageError

WIDTH = 16


def official_twin(arch, stem):
    """(the authors' model with random weights, ours loaded with them), both in inference mode."""
    import torch
    from src.convert.official_resnet_torch import official_model, with_random_state

    torch.manual_seed(0)
    official = with_random_state(official_model(arch, stem, 10, WIDTH))
    ours = create_model(arch=arch, stem=stem, num_classes=10, base_width=WIDTH)
    converted = official_to_mindspore({name: value.numpy() for name, value in official.state_dict().items()})
    assert {name: value.shape for name, value in converted.items()} == \
        {param.name: tuple(param.shape) for param in ours.get_parameters()}
    ms.load_param_into_net(ours, {name: ms.Parameter(value) for name, value in converted.items()}, strict_load=True)
    ours.set_train(False)
    return official, ours


@pytest.mark.slow
@pytest.mark.parametrize('stem', STEMS)
@pytest.mark.parametrize('arch', ARCHS)
def test_each_network_is_the_authors(arch, stem):
    import torch
    official, ours = official_twin(arch, stem)
    size = 224 if stem == 'imagenet' else 32
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = official(torch.from_numpy(x)).numpy()
    got = ours(ms.Tensor(x)).asnumpy()
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


@pytest.mark.parametrize('arch, step', [('resnet18', 1), ('resnet18_bam', 16), ('resnet34_cbam', 16),
                                        ('resnet50_bam', 4), ('resnet101_cbam', 4), ('resnet101', 1)])
def test_each_network_takes_the_widths_its_attention_can_divide(arch, step):
    assert width_step(arch) == step
    create_model(arch=arch, stem='cifar', num_classes=2, base_width=step)
    if step > 1:
        with pytest.raises(ValueError, match=f'base_width must be a positive multiple of {step} for {arch}'):
            create_model(arch=arch, stem='cifar', num_classes=2, base_width=step // 2)
        with pytest.raises(SystemExit):  # the settings refuse it before MindSpore starts
            parse_config('t', ['--arch', arch, '--base_width', str(step // 2)], command='train')


def test_both_stems_take_any_input_of_32_pixels_or_more():
    for stem in STEMS:
        net = create_model(arch='resnet18_cbam', stem=stem, num_classes=3, base_width=16)
        net.set_train(False)
        for height, width in ((32, 32), (40, 57)):
            assert net(ms.Tensor(np.zeros((1, 3, height, width), np.float32))).shape == (1, 3)


def test_a_checkpoint_records_its_network_and_refuses_another(tmp_path):
    cbam = create_model(arch='resnet18_cbam', stem='cifar', num_classes=10, base_width=16)
    path = save_atomically(cbam, str(tmp_path / 'cbam.ckpt'), architecture(cbam))
    saved = ms.load_checkpoint(path)
    assert (saved['arch'], saved['stem']) == ('resnet18_cbam', 'cifar')
    load_weights(create_model(arch='resnet18_cbam', stem='cifar', num_classes=10, base_width=16), path)
    with pytest.raises(UsageError, match=f'{path} holds resnet18_cbam with the cifar stem, not resnet18_bam with the '
                                         f'cifar stem; pass --arch resnet18_cbam --stem cifar'):
        load_weights(create_model(arch='resnet18_bam', stem='cifar', num_classes=10, base_width=16), path)


def test_cbam_attention_pictures_come_from_each_stages_last_spatial_gate():
    net = create_model(arch='resnet50_cbam', stem='imagenet', num_classes=3, base_width=4)
    net.set_train(False)
    maps = net.spatial_attention_maps(ms.Tensor(np.ones((1, 3, 64, 64), np.float32)))
    assert [tuple(found.shape) for found in maps] == [(1, 1, 16, 16), (1, 1, 8, 8), (1, 1, 4, 4)]
    assert create_model(arch='resnet18', stem='cifar', num_classes=3, base_width=4).spatial_attention_maps(
        ms.Tensor(np.ones((1, 3, 32, 32), np.float32))) == []


def test_attention_pictures_of_a_network_without_attention_are_refused(tmp_path):
    from conftest import run_script
    (tmp_path / 'model.ckpt').write_bytes(b'never read')
    result = run_script('attention_map.py', '--model_file', str(tmp_path / 'model.ckpt'), '--image_path',
                        str(tmp_path), '--arch', 'resnet34', '--output_dir', str(tmp_path / 'out'))
    assert result.returncode == 2 and result.stderr == ('attention_map.py: error: --arch resnet34 has no attention '
                                                        'module to draw: name a network with _bam or _cbam\n')


# Each kind of block, attention and stem through export.py (ONNX, checked by ONNX Runtime as it is written) and the
# C++ app; benchmarks/family_exports.py does all 24 networks in both formats with both batch kinds.
DEPLOYED = [('resnet18', 'cifar'), ('resnet34_bam', 'imagenet'), ('resnet50_cbam', 'cifar')]


@pytest.mark.slow
@pytest.mark.parametrize('arch, stem', DEPLOYED)
def test_each_kind_of_network_exports_and_runs_in_the_app(arch, stem, infer_app_build, repository_build, tmp_path):
    import subprocess

    from conftest import INFER_APP, run_script
    from src.data.demo_data import build_demo_data
    from src.deploy.inference import largest_difference, logits

    size = 64 if stem == 'imagenet' else 32
    ms.set_seed(3)
    net = create_model(arch=arch, stem=stem, num_classes=10, base_width=WIDTH)
    checkpoint = save_atomically(net, str(tmp_path / 'model.ckpt'), architecture(net))
    network = ('--arch', arch, '--stem', stem, '--num_classes', '10', '--base_width', str(WIDTH), '--image_height',
               str(size), '--image_width', str(size), '--device_target', 'CPU')
    result = run_script('export.py', '--ckpt_file', checkpoint, '--file_format', 'ONNX', '--file_name',
                        str(tmp_path / 'model'), *network)
    assert result.returncode == 0, result.stderr
    assert 'Checking with ONNX Runtime against the checkpoint:' in result.stdout and 'Exported ' in result.stdout

    images = build_demo_data(str(tmp_path / 'images'), train_per_class=1, val_per_class=1, image_size=40,
                             seed=5, classes=(0, 1, 2))['val']
    app = subprocess.run([INFER_APP, f'--model_path={tmp_path / "model.onnx"}', f'--dataset_path={images}',
                          f'--height={size}', f'--width={size}', f'--resize={size}', f'--output_dir={tmp_path / "app"}',
                          '--dump_input'], capture_output=True, text=True, timeout=120, check=False)
    assert app.returncode == 0, app.stderr
    names = sorted(name[:-len('.bin')] for name in os.listdir(tmp_path / 'app' / 'input_Files'))
    assert len(names) == 3
    inputs = np.stack([np.fromfile(tmp_path / 'app' / 'input_Files' / f'{name}.bin', np.float32) for name in names])
    got = np.stack([np.fromfile(tmp_path / 'app' / 'result_Files' / f'{name}_0.bin', np.float32) for name in names])
    net.set_train(False)
    assert largest_difference(got, logits(net, inputs.reshape(3, 3, size, size)))[1] <= 1e-4

"""Pretrained weights: convert_checkpoint.py on files with the structure of the authors' release (both PyTorch
serialization formats), its refusals, the converted file in every entry point, and fine-tuning: a fresh classifier
for other classes, linear probing with frozen weights and BatchNorm statistics, on one device and two."""
import csv
import os
import re
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest

from conftest import (REPO, SMALL_NET, authors_preprocessing, official_torch_model, one_line_error, run_script,
                      write_image_folder)
from src.convert.official_weights import RELEASE_FILE, official_to_mindspore
from src.engine.checkpoint import END_MARKER

CHECK_LINE = re.compile(r'max \|logit difference\| \S+, (?P<relative>\S+) of the largest logit')
LEARNT_EPOCHS = 2


def save_release(path, model, legacy):
    """`model`'s weights as the authors released theirs: torch.save of {'epoch', 'arch', 'state_dict',
    'best_prec1', 'optimizer'} from a DataParallel model (keys 'module.*'), with SGD momentum buffers, and in the
    legacy format with the tensors tagged as saved on a GPU, as PyTorch 0.4.1 on their machines wrote them."""
    import torch

    wrapped = torch.nn.DataParallel(model)
    optimizer = torch.optim.SGD(wrapped.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
    for param in wrapped.parameters():
        optimizer.state[param]['momentum_buffer'] = torch.zeros_like(param)
    content = {'epoch': 90, 'arch': 'resnet', 'state_dict': wrapped.state_dict(), 'best_prec1': torch.tensor(76.86),
               'optimizer': optimizer.state_dict()}
    with mock.patch('torch.serialization.location_tag', lambda storage: 'cuda:0'):
        torch.save(content, str(path), _use_new_zipfile_serialization=not legacy)
    return str(path)


def convert(source, output, env=None):
    return run_script('convert_checkpoint.py', '--torch_checkpoint', str(source), '--output', str(output), env=env)


@pytest.fixture(scope='module')
def official():
    return official_torch_model(num_classes=1000, seed=0)


@pytest.fixture(scope='module')
def release_files(official, tmp_path_factory):
    root = tmp_path_factory.mktemp('release')
    return {'legacy': save_release(root / RELEASE_FILE, official, legacy=True),
            'zip': save_release(root / 'zip_format.pth.tar', official, legacy=False)}


@pytest.fixture(scope='module')
def official_10():
    return official_torch_model(num_classes=10, seed=5)


@pytest.fixture(scope='module')
def converted_10(official_10, tmp_path_factory):
    """A bare state dict without 'module.' (zip format) of a 10-class official model, converted."""
    import torch
    root = tmp_path_factory.mktemp('converted_10')
    torch.save(official_10.state_dict(), str(root / 'bare.pth'))
    result = convert(root / 'bare.pth', root / 'bam10')
    assert result.returncode == 0, result.stderr
    return str(root / 'bam10.ckpt'), result


@pytest.mark.parametrize('kind', ['legacy', 'zip'])
def test_the_release_converts_in_both_formats(kind, release_files, official, tmp_path):
    import mindspore as ms
    result = convert(release_files[kind], tmp_path / 'bam.ckpt')
    assert result.returncode == 0, result.stderr
    assert f'PyTorch {kind} format' in result.stdout and 'epoch 90, arch resnet, best_prec1 76.86' in result.stdout
    assert float(CHECK_LINE.search(result.stdout)['relative']) <= 1e-4
    assert os.listdir(tmp_path) == ['bam.ckpt']
    saved = ms.load_checkpoint(str(tmp_path / 'bam.ckpt'))
    expected = official_to_mindspore({name: value.numpy() for name, value in official.state_dict().items()})
    assert set(saved) == set(expected) | {END_MARKER, 'arch', 'stem'}
    assert (saved['arch'], saved['stem']) == ('resnet50_bam', 'imagenet')
    for name, value in expected.items():
        np.testing.assert_array_equal(saved[name].asnumpy(), value, err_msg=name)


@pytest.mark.parametrize('kind', ['zip'])  # the legacy format is read as for the BAM release (above)
def test_a_cbam_file_of_the_releases_structure_converts_and_names_its_network(kind, tmp_path):
    """Their other release, ResNet50+CBAM, in the same structure ({'state_dict': 'module.*', ...}), at width 4 to
    keep the test short: the network is told from the file, checked against their model and recorded; an --arch that
    disagrees is one line."""
    import mindspore as ms
    official = official_torch_model(10, depth=50, att_type='CBAM', width=4, network_type='CIFAR10')
    source = save_release(tmp_path / f'cbam_{kind}.pth', official, legacy=kind == 'legacy')
    result = convert(source, tmp_path / 'cbam.ckpt')
    assert result.returncode == 0, result.stderr
    assert "checking: the authors' PyTorch resnet50_cbam (cifar stem, width 4)" in result.stdout
    assert float(CHECK_LINE.search(result.stdout)['relative']) <= 1e-4
    assert 'use it with --arch resnet50_cbam --stem cifar --num_classes 10 --base_width 4' in result.stdout
    saved = ms.load_checkpoint(str(tmp_path / 'cbam.ckpt'))
    assert (saved['arch'], saved['stem']) == ('resnet50_cbam', 'cifar')
    refused = run_script('convert_checkpoint.py', '--torch_checkpoint', source, '--output', str(tmp_path / 'x.ckpt'),
                         '--arch', 'resnet50_bam')
    assert one_line_error(refused) == (f'convert_checkpoint.py: error: --arch resnet50_bam, but {source} holds '
                                       f'resnet50_cbam with the cifar stem; pass --arch resnet50_cbam or leave it out')


def test_a_bare_state_dict_without_the_data_parallel_prefix_converts(converted_10):
    path, result = converted_10
    assert 'PyTorch zip format' in result.stdout and '(10 classes)' in result.stdout
    assert float(CHECK_LINE.search(result.stdout)['relative']) <= 1e-4
    assert f'wrote {path}: use it with --arch resnet50_bam --stem imagenet --num_classes 10' in result.stdout


def _damaged(state, name, value):
    changed = dict(state)
    if value is None:
        del changed[name]
    else:
        changed[name] = value
    return changed


@pytest.fixture(scope='module')
def bad_files(official, release_files, tmp_path_factory):
    """{case: (path, expected message)} of files the converter must refuse."""
    import torch
    root = tmp_path_factory.mktemp('bad_torch_files')
    state = official.state_dict()
    files = {}

    def save(name, content, message):
        torch.save(content, str(root / name))
        files[name] = (str(root / name), message)

    cbam = {name.replace('bam1.channel_att', 'layer1.0.cbam.ChannelGate'): value for name, value in state.items()
            if not name.startswith(('bam2', 'bam3'))}
    save('cbam.pth', {'state_dict': cbam}, "is not the authors' resnet50_cbam: state-dict entries")
    save('five_blocks.pth', {name: value for name, value in state.items() if not name.startswith('layer3.5.')},
         "has 5 bottleneck blocks in stage 3, which none of the authors' ResNets (18, 34, 50, 101) has")
    save('missing.pth', _damaged(state, 'layer3.2.bn2.running_var', None),
         "state-dict entries 1 missing (layer3.2.bn2.running_var)")
    save('shape.pth', _damaged(state, 'layer2.0.conv2.weight', torch.zeros(128, 128, 1, 1)),
         'layer2.0.conv2.weight (128, 128, 1, 1) != (128, 128, 3, 3)')
    save('narrow_classifier.pth', _damaged(state, 'fc.weight', torch.zeros(1000, 1024)), 'not a 2048 -> classes')
    save('nan.pth', _damaged(state, 'bam2.spatial_att.gate_s.gate_s_conv_final.bias', torch.tensor([float('nan')])),
         'hold NaN or infinite values (bam2.spatial_att.gate_s.gate_s_conv_final.bias)')
    save('list.pth', [1, 2, 3], 'holds list, not a state dict')
    save('epoch_only.pth', {'epoch': 3, 'arch': 'resnet'}, 'not a state dict of tensors')
    for kind in ('legacy', 'zip'):
        data = open(release_files[kind], 'rb').read()
        (root / f'truncated_{kind}.pth.tar').write_bytes(data[:len(data) // 2])
        files[f'truncated_{kind}'] = (str(root / f'truncated_{kind}.pth.tar'), 'truncated, damaged or not written')
    (root / 'text.pth.tar').write_text('<html>404 Not Found</html>\n')
    files['text'] = (str(root / 'text.pth.tar'), 'is not a PyTorch checkpoint')
    (root / 'empty.pth').write_bytes(b'')
    files['empty'] = (str(root / 'empty.pth'), 'is not a PyTorch checkpoint')
    files['missing_file'] = (str(root / 'absent.pth.tar'), 'does not exist')
    files['folder'] = (str(root), 'is a folder')
    return files


# One case of each kind of bad file runs the converter in a subprocess (the real entry point, as users run it); the
# others of its kind call its main() in this process, with the same command line, status and stderr.
BAD_CASES = {'cbam.pth': 'subprocess', 'five_blocks.pth': 'in_process',  # another architecture
             'nan.pth': 'subprocess', 'missing.pth': 'in_process', 'shape.pth': 'in_process',  # damaged entries
             'narrow_classifier.pth': 'in_process',
             'list.pth': 'subprocess', 'epoch_only.pth': 'in_process',  # no state dict
             'truncated_zip': 'subprocess', 'truncated_legacy': 'in_process',  # cut short
             'text': 'subprocess', 'empty': 'in_process',  # not PyTorch's
             'missing_file': 'subprocess', 'folder': 'in_process'}  # no file


def convert_in_process(source, output, monkeypatch, capsys):
    """convert_checkpoint.py's main() run here as the command line would run it: a CompletedProcess of its exit
    status and output."""
    import convert_checkpoint
    from src.utils.errors import run_main
    monkeypatch.setattr(sys, 'argv', ['convert_checkpoint.py', '--torch_checkpoint', str(source), '--output',
                                      str(output)])
    capsys.readouterr()
    try:
        run_main(convert_checkpoint.main)
        status = 0
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(sys.argv, status, captured.out, captured.err)


@pytest.mark.fault
@pytest.mark.parametrize('case', BAD_CASES)
def test_bad_input_is_refused_in_one_line_and_nothing_is_written(case, bad_files, tmp_path, monkeypatch, capsys):
    path, message = bad_files[case]
    output = tmp_path / 'out'
    output.mkdir()
    if BAD_CASES[case] == 'subprocess':
        result = convert(path, output / 'converted.ckpt')
    else:
        result = convert_in_process(path, output / 'converted.ckpt', monkeypatch, capsys)
    assert message in one_line_error(result)
    assert 'Traceback' not in result.stderr and os.listdir(output) == []


@pytest.mark.fault
def test_an_output_path_that_cannot_be_written_is_refused_first(release_files, tmp_path):
    (tmp_path / 'file').write_text('x')
    assert 'is a folder' in one_line_error(convert(release_files['zip'], tmp_path))
    assert 'is a file, not a folder' in one_line_error(convert(release_files['zip'], tmp_path / 'file' / 'x.ckpt'))


@pytest.fixture(scope='module')
def without_torch(tmp_path_factory):
    """Environment in which `import torch` fails, as on a machine without PyTorch."""
    root = tmp_path_factory.mktemp('no_torch')
    (root / 'torch').mkdir()
    (root / 'torch' / '__init__.py').write_text("raise ImportError('No module named torch')\n")
    return {'PYTHONPATH': str(root)}


@pytest.mark.fault
def test_without_pytorch_the_converter_says_how_to_install_it(release_files, without_torch, tmp_path):
    line = one_line_error(convert(release_files['legacy'], tmp_path / 'x.ckpt', env=without_torch))
    assert 'needs PyTorch' in line and 'pip install torch --index-url https://download.pytorch.org/whl/cpu' in line
    assert not os.listdir(tmp_path)


# The converted file everywhere a checkpoint goes.

@pytest.fixture(scope='module')
def photos_224(fashion_photos, tmp_path_factory):
    """A val set of 10 classes x 2 photos, JPEGs of 300 x 300 (shrunk to 256 by the evaluation)."""
    return write_image_folder(tmp_path_factory.mktemp('photos_224'), fashion_photos,
                              {f'class_{index}': 2 for index in range(10)}, size=300)


FULL_10 = ('--num_classes', '10', '--device_target', 'CPU')


@pytest.mark.slow
def test_eval_scores_the_converted_weights_as_the_authors_model_does(converted_10, official_10, photos_224, without_torch,
                                                                     tmp_path):
    import torch
    from src.data.image_folder import read_image_folder
    samples = read_image_folder(photos_224).samples
    with torch.no_grad():
        predicted = official_10(torch.from_numpy(np.stack([authors_preprocessing(path) for path, _ in samples])))
    expected = np.mean(predicted.numpy().argmax(axis=1) == np.array([label for _, label in samples]))
    # eval.py needs no PyTorch: it runs here where `import torch` fails.
    result = run_script('eval.py', '--checkpoint_path', converted_10[0], '--val_data_path', photos_224,
                        '--eval_resize', 'pil', '--output_dir', str(tmp_path), *FULL_10, env=without_torch)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / 'eval_results.csv', encoding='utf-8') as handle:
        row, = csv.DictReader(handle)
    assert int(row['images']) == 20 and float(row['top1']) == pytest.approx(expected)


def test_the_converted_file_exports_predicts_and_draws_attention_maps(converted_10, photos_224, tmp_path):
    ckpt = converted_10[0]
    image = os.path.join(photos_224, 'class_3', sorted(os.listdir(os.path.join(photos_224, 'class_3')))[0])
    result = run_script('export.py', '--ckpt_file', ckpt, '--file_name', str(tmp_path / 'bam10'), *FULL_10)
    assert result.returncode == 0 and os.path.isfile(tmp_path / 'bam10.mindir'), result.stderr
    result = run_script('predict.py', '--model_file', ckpt, '--image_path', image, *FULL_10)
    assert result.returncode == 0 and result.stdout.startswith(f'{image}: class '), result.stderr
    result = run_script('attention_map.py', '--model_file', ckpt, '--image_path', image, '--output_dir',
                        str(tmp_path), *FULL_10)
    assert result.returncode == 0 and len(os.listdir(tmp_path / 'attention')) == 1, result.stderr


# Fine-tuning and linear probing.

@pytest.fixture(scope='module')
def target_set(tmp_path_factory):
    """Five other demo photos' classes (5-9, drawn with another seed): 40 training and 20 val images each."""
    from src.data.demo_data import build_demo_data
    root = tmp_path_factory.mktemp('target_set')
    build_demo_data(str(root), train_per_class=40, val_per_class=20, image_size=32, seed=4, classes=(5, 6, 7, 8, 9))
    return root


def tune_args(target, output_dir, checkpoint, *extra):
    net = list(SMALL_NET)
    net[net.index('--num_classes') + 1] = '5'
    return ('train.py', '--data_path', str(target / 'train'), '--val_data_path', str(target / 'val'),
            '--run_eval', 'true', '--output_dir', str(output_dir), '--pre_trained', 'true', '--checkpoint_path',
            str(checkpoint), '--epoch_size', str(LEARNT_EPOCHS), '--batch_size', '16', *net, *extra)


def load(path):
    import mindspore as ms
    return {name: param.asnumpy() for name, param in ms.load_checkpoint(str(path)).items()
            if not isinstance(param, str)}  # the network's name, recorded beside the parameters


def assert_only_the_classifier_changed(before, after):
    network = [name for name in before if name in after and not name.startswith(('moments.', 'fc.'))
               and name not in ('global_step', 'learning_rate', 'epoch_num', 'step_num', 'best_top1')]
    assert len(network) > 300 and any(name.endswith('moving_variance') for name in network)
    for name in network:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    assert after['fc.weight'].shape == (5, before['fc.weight'].shape[1]) and before['fc.weight'].shape[0] == 10
    assert sorted(name for name in after if name.startswith('moments.')) == ['moments.fc.bias', 'moments.fc.weight']


def test_linear_probe_on_new_classes_with_two_workers_trains_only_a_fresh_classifier(trained_run, target_set, tmp_path):
    """Two data-parallel workers of 8 images a step (the 16 of one device): a new classifier learns the five new
    classes, and every other weight and BatchNorm statistic stays as loaded, on both workers alike."""
    source = trained_run[0] / 'train_resnet50_bam_imagenet_best.ckpt'
    args = tune_args(target_set, tmp_path, source, '--linear_probe', 'true', '--lr_init', '0.1', '--batch_size', '8')[1:]
    data_path = args[args.index('--data_path') + 1]
    result = subprocess.run(['bash', 'scripts/run_distribute_train_cpu.sh', '2', data_path, *args], cwd=REPO,
                            capture_output=True, text=True, timeout=600, check=False,
                            env=dict(os.environ, PYTHON=sys.executable))
    logs = [(tmp_path / 'logs' / f'worker_{rank}.log').read_text() for rank in (0, 1)]
    assert result.returncode == 0, result.stdout[-2000:] + logs[0][-2000:]
    notice = [line for line in logs[0].splitlines() if line.startswith('fine-tuning')]
    assert notice == [f'fine-tuning from {source}: every weight is loaded but the classifier (fc), which starts fresh '
                      f'(its classifier has 10 classes and --num_classes is 5)']
    assert not any('are not loaded' in log for log in logs)  # MindSpore says so of parameters left out on purpose
    digests = [[line.split()[-1] for line in log.splitlines() if 'parameter digest' in line] for log in logs]
    assert len(digests[0]) == 1 and digests[0] == digests[1]
    final = tmp_path / 'ckpt' / f'train_resnet50_bam_imagenet-{LEARNT_EPOCHS}_12.ckpt'
    assert_only_the_classifier_changed(load(source), load(final))
    with open(tmp_path / 'epochs.csv', encoding='utf-8') as handle:
        top1 = float(list(csv.DictReader(handle))[-1]['top1'])
    assert top1 > 0.4  # chance: 0.2


def test_fine_tuning_the_converted_weights_to_new_classes(converted_10, target_set, tmp_path):
    result = run_script('train.py', '--data_path', str(target_set / 'train'), '--pre_trained', 'true',
                        '--checkpoint_path', converted_10[0], '--num_classes', '5', '--image_height', '32',
                        '--image_width', '32', '--epoch_size', '1', '--batch_size', '50', '--output_dir', str(tmp_path),
                        '--device_target', 'CPU')
    assert result.returncode == 0, result.stderr
    assert 'its classifier has 10 classes and --num_classes is 5' in result.stdout
    before, after = load(converted_10[0]), load(tmp_path / 'ckpt' / 'train_resnet50_bam_imagenet-1_4.ckpt')
    assert not np.array_equal(before['layer1.0.conv1.weight'], after['layer1.0.conv1.weight'])  # all layers learn
    assert not np.array_equal(before['layer1.0.bn1.moving_mean'], after['layer1.0.bn1.moving_mean'])


@pytest.mark.fault
@pytest.mark.parametrize('extra, message', [
    (('--base_width', '16'), 'does not fit the network'),
    (('--pre_trained', 'false', '--linear_probe', 'true'), '--linear_probe trains a classifier on top of loaded'),
    (('--pre_trained', 'false', '--reset_classifier', 'true'), '--reset_classifier applies to the weights'),
])
def test_fine_tuning_mistakes_are_one_line_errors(trained_run, target_set, tmp_path, extra, message):
    source = trained_run[0] / 'train_resnet50_bam_imagenet_best.ckpt'
    assert message in one_line_error(run_script(*tune_args(target_set, tmp_path, source), *extra))
    assert not (tmp_path / 'ckpt').exists()


@pytest.mark.fault
def test_pre_trained_needs_a_checkpoint_file(trained_run, target_set, tmp_path):
    line = one_line_error(run_script(*tune_args(target_set, tmp_path, trained_run[0] / 'ckpt')))
    assert '--pre_trained true needs --checkpoint_path to name a checkpoint file' in line and 'a folder' in line

"""Checkpoint files: atomic writes, epoch order, and errors that name the file and the problem."""
import os

import mindspore as ms
import pytest

from src.engine.checkpoint import checkpoint_files, load_weights, parameter_digest, read_checkpoint, save_atomically
from src.models.resnet import resnet50_bam
from src.utils.errors import UsageError


def small_net(seed=0, **options):
    ms.set_seed(seed)
    return resnet50_bam(num_classes=options.pop('num_classes', 10), base_width=options.pop('base_width', 8), **options)


def test_saved_weights_load_back(tmp_path):
    net = small_net(seed=1)
    path = save_atomically(net, str(tmp_path / 'a.ckpt'), {'epoch_num': 3})
    other = small_net(seed=2)
    assert parameter_digest(other) != parameter_digest(net)
    saved = load_weights(other, path)
    assert parameter_digest(other) == parameter_digest(net)
    assert int(saved['epoch_num'].asnumpy()) == 3


def test_a_save_that_dies_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    net = small_net()
    path = save_atomically(net, str(tmp_path / 'net-1_5.ckpt'))
    before = open(path, 'rb').read()

    def dies_halfway(save_obj, file_name, **kwargs):
        with open(file_name, 'wb') as handle:
            handle.write(b'half a checkpoint')
        raise KeyboardInterrupt

    monkeypatch.setattr(ms, 'save_checkpoint', dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_atomically(small_net(seed=9), path)
    assert open(path, 'rb').read() == before
    assert os.listdir(tmp_path) == ['net-1_5.ckpt']


def test_a_folder_lists_in_epoch_order_without_hidden_partial_files(tmp_path):
    for name in ('net-10_5.ckpt', 'net-9_5.ckpt', 'net-100_5.ckpt', '.partial-net-11_5.ckpt', 'notes.txt'):
        (tmp_path / name).write_bytes(b'')
    assert [os.path.basename(p) for p in checkpoint_files(str(tmp_path))] == [
        'net-9_5.ckpt', 'net-10_5.ckpt', 'net-100_5.ckpt']
    assert checkpoint_files(str(tmp_path / 'net-9_5.ckpt')) == [str(tmp_path / 'net-9_5.ckpt')]


@pytest.mark.parametrize('make, message', [
    (lambda folder: str(folder / 'missing.ckpt'), 'does not exist'),
    (lambda folder: str(folder), 'no .ckpt files in'),
])
def test_missing_checkpoints_are_named(tmp_path, make, message):
    with pytest.raises(UsageError, match=message):
        checkpoint_files(make(tmp_path))


def test_a_truncated_checkpoint_is_named(tmp_path):
    path = save_atomically(small_net(), str(tmp_path / 'net.ckpt'))
    truncated = tmp_path / 'cut.ckpt'
    truncated.write_bytes(open(path, 'rb').read()[:4000])
    with pytest.raises(UsageError, match=f'cannot read checkpoint {truncated}: truncated or not a MindSpore'):
        read_checkpoint(str(truncated))


@pytest.mark.parametrize('options, message', [
    ({'num_classes': 12}, r'2 of another shape \(fc.weight \(10, 256\) != \(12, 256\); fc.bias \(10,\) != \(12,\)\)'),
    ({'base_width': 16}, r'of another shape \(conv1.weight \(8, 3, 7, 7\) != \(16, 3, 7, 7\)'),
])
def test_a_checkpoint_of_another_network_names_the_parameters(tmp_path, options, message):
    path = save_atomically(small_net(), str(tmp_path / 'net.ckpt'))
    with pytest.raises(UsageError, match=message):
        load_weights(small_net(**options), path)


def test_a_checkpoint_missing_parameters_names_them(tmp_path):
    net = small_net()
    params = [{'name': p.name, 'data': p} for p in net.get_parameters() if not p.name.startswith('bam3')]
    path = str(tmp_path / 'no_bam3.ckpt')
    save_atomically(params, path)  # complete, with its end marker: another network, not a truncated file
    with pytest.raises(UsageError, match=r'does not fit the network: parameters \d+ missing \(bam3\.'):
        load_weights(small_net(), path)
    ms.save_checkpoint(params, path)  # no end marker: truncated, or written by another program
    with pytest.raises(UsageError, match=r'lacks 28 of the \d+ entries needed \(bam3\..* it is truncated'):
        load_weights(small_net(), path)

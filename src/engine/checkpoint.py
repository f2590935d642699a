"""Checkpoint files: written atomically, read with errors that say what is wrong, listed in epoch order."""
import hashlib
import logging
import os
import re

import numpy as np

from src.models import CLASSIFIER
from src.utils.errors import UsageError, first_line, some
from src.utils.files import partial_path, written_atomically
from src.utils.mindspore_log import mindspore_log_kept

CHECKPOINT_SUFFIX = '.ckpt'
# The entry save_atomically writes after all others: a file without it was cut short (or written elsewhere).
END_MARKER = 'end_of_checkpoint'


def _natural_key(text):
    """'net-10_5.ckpt' sorts after 'net-9_5.ckpt': digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', text)]


def checkpoint_files(path):
    """A checkpoint file as a one-element list, or a folder's checkpoints in epoch order."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise UsageError(f'checkpoint path {path} does not exist')
    names = sorted((name for name in os.listdir(path)
                    if name.endswith(CHECKPOINT_SUFFIX) and not name.startswith('.')), key=_natural_key)
    if not names:
        raise UsageError(f'no {CHECKPOINT_SUFFIX} files in {path}')
    return [os.path.join(path, name) for name in names]


def read_checkpoint(path):
    """{name: Parameter} of a checkpoint file, or a UsageError naming the file and the problem."""
    import mindspore as ms

    if os.path.isdir(path):
        raise UsageError(f'checkpoint {path} is a folder; name one {CHECKPOINT_SUFFIX} file in it')
    if not os.path.isfile(path):
        raise UsageError(f'checkpoint {path} does not exist')
    try:
        return ms.load_checkpoint(path)
    except (ValueError, RuntimeError, OSError) as error:
        reason = first_line(error)
        raise UsageError(f'cannot read checkpoint {path}: truncated or not a MindSpore checkpoint ({reason})') from error


def architecture(net):
    """What a checkpoint records of the network it holds (src/models/family.py): {'arch': ..., 'stem': ...}."""
    return {'arch': net.arch, 'stem': net.stem_kind}


def _other_architecture(net, saved, path):
    """The phrase saying that `saved` holds another network than `net`, or None (also for a checkpoint written
    before checkpoints recorded their network: its shapes are checked instead)."""
    theirs = {key: saved[key] for key in ('arch', 'stem') if isinstance(saved.get(key), str)}
    ours = architecture(net)
    if not theirs or all(theirs[key] == ours[key] for key in theirs):
        return None
    return (f'{path} holds {theirs.get("arch", ours["arch"])} with the {theirs.get("stem", ours["stem"])} stem, '
            f'not {ours["arch"]} with the {ours["stem"]} stem; pass --arch {theirs.get("arch", ours["arch"])} '
            f'--stem {theirs.get("stem", ours["stem"])}')


def _problems(expected, saved, path):
    """What keeps the entries of `expected` ({name: shape}) from loading from `saved`, as a phrase, or None."""
    missing = [name for name in expected if name not in saved]
    if missing and END_MARKER not in saved:
        return (f'{path} lacks {len(missing)} of the {len(expected)} entries needed ({some(missing)}) and the end '
                f'marker every checkpoint written here carries last: it is truncated (a copy or a save that did not '
                f'finish), or another program wrote it for another network')
    mismatched = [f'{name} {tuple(saved[name].shape)} != {shape}' for name, shape in expected.items()
                  if name in saved and tuple(saved[name].shape) != shape]
    if missing or mismatched:
        problems = [f'{len(missing)} missing ({some(missing)})'] if missing else []
        if mismatched:
            problems.append(f'{len(mismatched)} of another shape ({some(mismatched, separator="; ")})')
        return f'{path} does not fit the network: parameters {" and ".join(problems)}'
    damaged = [name for name in expected if not np.isfinite(saved[name].asnumpy()).all()]
    if damaged:
        return (f'{path} holds NaN or infinite values in {len(damaged)} entries ({some(damaged)}): the run that '
                f'wrote it had diverged; use an earlier checkpoint')
    negative = [name for name in expected if name.endswith('moving_variance') and (saved[name].asnumpy() < 0).any()]
    if negative:
        return (f'{path} holds negative BatchNorm variances in {len(negative)} entries ({some(negative)}), which no '
                f'training writes: the file is damaged')
    return None


def _load_fitting(net, saved, path, skip=()):
    """Load `saved` into `net`; every network parameter but those named in `skip` must be there, with its shape
    and finite values."""
    import mindspore as ms

    other = _other_architecture(net, saved, path)
    if other:
        raise UsageError(other)
    expected = {param.name: tuple(param.shape) for param in net.get_parameters() if param.name not in skip}
    problem = _problems(expected, saved, path)
    if problem:
        hint = '; check --num_classes and --base_width' if 'fit the network' in problem or 'lacks' in problem else ''
        raise UsageError(problem + hint)
    # The parameters left out load as themselves, which keeps MindSpore from warning that they were not loaded.
    ms.load_param_into_net(net, {param.name: saved[param.name] if param.name in expected else param
                                 for param in net.get_parameters()}, strict_load=True)


def load_weights(net, path):
    """Load a checkpoint's weights into `net`; every network parameter must be present with its shape.
    Returns the whole checkpoint, whose extra entries (optimizer state, epoch, ...) the caller may use."""
    saved = read_checkpoint(path)
    _load_fitting(net, saved, path)
    return saved


def load_pretrained(net, path, reset_classifier=False):
    """Start `net` from a checkpoint's weights, for fine-tuning: all of them, except a classifier made for another
    number of classes (or any classifier, with `reset_classifier`), which keeps the network's fresh initialisation.
    Any other difference is an error. Returns the checkpoint's class count when its classifier was left out,
    else None."""
    saved = read_checkpoint(path)
    own = {param.name: tuple(param.shape) for param in net.get_parameters() if param.name in CLASSIFIER}
    theirs = {name: tuple(saved[name].shape) for name in CLASSIFIER if name in saved}
    # Another class count changes the classifier's rows only; another width would change its columns too.
    other_classes = (len(theirs) == len(CLASSIFIER) and theirs != own
                     and theirs['fc.weight'][1:] == own['fc.weight'][1:] and theirs['fc.bias'] == theirs['fc.weight'][:1])
    left_out = other_classes or (reset_classifier and theirs == own)
    _load_fitting(net, saved, path, skip=CLASSIFIER if left_out else ())
    return theirs['fc.weight'][0] if left_out else None


def save_atomically(save_obj, path, append_dict=None):
    """Save like `mindspore.save_checkpoint`, but through a temporary file renamed into place, so a run
    killed while saving leaves the previous file intact. A save that fails (a full disk, a folder that turned
    read-only) leaves no temporary file and raises a UsageError naming the file and the reason."""
    import mindspore as ms

    partial = partial_path(path)  # ends in .ckpt, or save_checkpoint would append the suffix
    # MindSpore writes this first and renames it to `partial`.
    mindspore_temporary = partial[:-len(CHECKPOINT_SUFFIX)] + '.tmp'
    with written_atomically(path, 'checkpoint ', leftovers=(mindspore_temporary,)):
        with mindspore_log_kept(logging.CRITICAL):  # its report of a failed save would be a second, vaguer line
            ms.save_checkpoint(save_obj, partial, append_dict={**(append_dict or {}), END_MARKER: 1})
    return path


def checkpoint_prefix(arch, dataset_name):
    """The original port's file prefix, for any network: train_<arch>_<dataset>-<epoch>_<steps per epoch>.ckpt
    (train_resnet50_bam_imagenet-... for the default)."""
    return f'train_{arch}_{dataset_name}'


def training_state(epoch, steps_per_epoch, best_top1):
    """What a checkpoint carries beyond the parameters so that a run can resume where it stopped."""
    return {'epoch_num': epoch, 'step_num': epoch * steps_per_epoch, 'best_top1': float(best_top1)}


class CheckpointSaver:
    """The checkpoints of a training run, each the whole training cell (weights, optimizer momentum, step counter,
    loss scale) with the training state a resumed run needs: one every `every_epochs` epochs and after the last of
    `epochs` in `directory`, keeping the newest `keep_max` of this prefix; and `best_path`, replaced whenever
    validation improves. Each records `network` (see architecture)."""

    def __init__(self, train_network, *, network, directory, prefix, every_epochs, keep_max, epochs,
                 steps_per_epoch, best_path):
        self.train_network = train_network
        self.network = network
        self.directory = directory
        self.prefix = prefix
        self.every_epochs = every_epochs
        self.keep_max = keep_max
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.best_path = best_path

    def save_best(self, epoch, best_top1):
        save_atomically(self.train_network, self.best_path,
                        {**self.network, **training_state(epoch, self.steps_per_epoch, best_top1)})

    def save_if_due(self, epoch, best_top1):
        if epoch % self.every_epochs and epoch != self.epochs:
            return
        path = os.path.join(self.directory, f'{self.prefix}-{epoch}_{self.steps_per_epoch}{CHECKPOINT_SUFFIX}')
        save_atomically(self.train_network, path, {**self.network, **training_state(epoch, self.steps_per_epoch,
                                                                                     best_top1)})
        ours = [name for name in os.listdir(self.directory)
                if name.startswith(f'{self.prefix}-') and name.endswith(CHECKPOINT_SUFFIX)]
        for name in sorted(ours, key=_natural_key)[:-self.keep_max]:
            os.remove(os.path.join(self.directory, name))


def restore_training_state(train_network, path, steps_per_epoch):
    """Load a checkpoint saved by CheckpointSaver into the training cell: weights, optimizer momentum, step
    counter (hence the learning-rate position) and loss scale. Returns (epoch it finished, best top-1).
    The learning-rate schedule itself comes from this run's settings."""
    import mindspore as ms

    saved = read_checkpoint(path)
    if 'epoch_num' not in saved and any(name.startswith('moments.') for name in saved):
        raise UsageError(f'{path} holds optimizer state but not the epoch that train.py writes last: the file is '
                         f'truncated; resume from an earlier checkpoint')
    if 'epoch_num' not in saved or not any(name.startswith('moments.') for name in saved):
        cut = '' if END_MARKER in saved else (' and no end marker: it is truncated, or was not written by this '
                                              'repository\'s train.py')
        raise UsageError(f'{path} holds no training state (epoch, optimizer momentum){cut}: resume from a '
                         f'checkpoint written by train.py, or start from its weights with --pre_trained true '
                         f'--checkpoint_path {path}')
    epoch = int(saved['epoch_num'].asnumpy())
    if int(saved['global_step'].asnumpy()) != epoch * steps_per_epoch:
        raise UsageError(f'{path} was saved after {int(saved["global_step"].asnumpy())} steps over {epoch} epochs, '
                         f'but this run has {steps_per_epoch} steps per epoch: resume with the same data, '
                         f'--batch_size and number of devices')
    wanted = {param.name: tuple(param.shape) for param in train_network.get_parameters()
              if param.name != 'learning_rate'}
    problem = _problems(wanted, saved, path)
    if problem:
        hint = ('; resume with the settings the run started with (--num_classes, --base_width, --linear_probe)'
                if 'fit the network' in problem or 'lacks' in problem else '')
        raise UsageError(problem.replace('does not fit the network', 'does not fit this training run') + hint)
    # The schedule loads as itself, which keeps MindSpore from warning that it was not loaded.
    ms.load_param_into_net(train_network, {param.name: saved[param.name] if param.name in wanted else param
                                           for param in train_network.get_parameters()}, strict_load=True)
    best_top1 = float(saved['best_top1'].asnumpy()) if 'best_top1' in saved else 0.0
    return epoch, best_top1


def parameter_digest(net):
    """SHA-256 of every parameter's bytes in name order: equal digests mean equal weights (data-parallel
    ranks must agree after every step)."""
    digest = hashlib.sha256()
    for param in sorted(net.get_parameters(), key=lambda p: p.name):
        digest.update(param.name.encode())
        digest.update(param.asnumpy().tobytes())
    return digest.hexdigest()

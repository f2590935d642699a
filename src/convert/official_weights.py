"""The authors' released PyTorch weights: read a checkpoint file as they published it, check that it holds their
ResNet50+BAM, and map its state dict onto the parameter names of `src.models.resnet50_bam`.

The release (Jongchan/attention-module, README "Resume with checkpoints") is RESNET50_IMAGENET_BAM_best.pth.tar,
written by `torch.save` in PyTorch 0.4.1 (the legacy, pre-zip format) as
{'epoch', 'arch', 'state_dict', 'best_prec1', 'optimizer'}, the model wrapped in DataParallel so that every
state-dict key starts with 'module.', BatchNorm layers carrying `num_batches_tracked`, tensors saved on a GPU.
Also accepted: today's zip format, a bare state dict, and keys without 'module.'.

The networks share their layer names; only BatchNorm's parameter names differ, and the channel gate's Linear
weights (out, in) become 1x1 convolution weights (out, in, 1, 1). `official_to_mindspore` works on numpy arrays;
`read_official_state_dict` needs PyTorch, imported only when it is called.
"""
import os

import numpy as np

from src.utils.errors import UsageError, some

RELEASE_FILE = 'RESNET50_IMAGENET_BAM_best.pth.tar'
DATA_PARALLEL_PREFIX = 'module.'
TORCH_INSTALL_HINT = 'pip install torch --index-url https://download.pytorch.org/whl/cpu'
# pickle protocol 2 of torch.serialization's MAGIC_NUMBER 0x1950a86a20f9469cfc6c, the start of every legacy file.
LEGACY_MAGIC = b'\x80\x02\x8a\x0a' + (0x1950a86a20f9469cfc6c).to_bytes(10, 'little')
ZIP_MAGIC = b'PK\x03\x04'  # a zip archive's first local file header

_BATCHNORM_NAMES = {
    'weight': 'gamma',
    'bias': 'beta',
    'running_mean': 'moving_mean',
    'running_var': 'moving_variance',
}


def import_torch():
    """PyTorch, or a UsageError saying how to install its CPU build (only reading the authors' file needs it)."""
    try:
        import torch
    except ImportError as error:
        raise UsageError(f'reading a PyTorch checkpoint needs PyTorch, which is not installed; install its CPU '
                         f'build with: {TORCH_INSTALL_HINT}') from error
    return torch


def torch_file_format(path):
    """'zip' for the format of PyTorch 1.6 and later, 'legacy' for the earlier one (the release's), None for a
    file of neither, judged by how it starts (so a truncated file still tells its format)."""
    with open(path, 'rb') as handle:
        start = handle.read(len(LEGACY_MAGIC))
    if start.startswith(ZIP_MAGIC):
        return 'zip'
    return 'legacy' if start == LEGACY_MAGIC else None


def read_torch_file(path):
    """The object `torch.save` wrote to `path`, loaded on the CPU without running any code from the file (tensors,
    numbers, strings and containers only); a UsageError naming the file and the problem otherwise."""
    torch = import_torch()
    if not os.path.isfile(path):
        raise UsageError(f'--torch_checkpoint {path} does not exist' if not os.path.isdir(path)
                         else f'--torch_checkpoint {path} is a folder; name the checkpoint file')
    if torch_file_format(path) is None:
        raise UsageError(f'{path} is not a PyTorch checkpoint: it is in neither of the formats torch.save writes')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # pylint: disable=broad-except
        # torch.load reports damage as EOFError, RuntimeError, KeyError, UnpicklingError, ... depending on where
        # the file ends or what it holds; each means the same to the user.
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        if 'Weights only load failed' in reason:
            raise UsageError(f'{path} holds Python objects besides tensors, which are not run for safety; it is not '
                             f'a checkpoint of the authors\' release') from error
        raise UsageError(f'cannot read {path} as a PyTorch checkpoint: truncated, damaged or not written by '
                         f'torch.save ({reason})') from error


def state_dict_of(content, path):
    """{name without 'module.': tensor} of a loaded file: the release's {'state_dict': ...} or a bare state dict."""
    state = content.get('state_dict', content) if isinstance(content, dict) else None
    if not isinstance(state, dict) or not state or not all(hasattr(value, 'shape') for value in state.values()):
        kind = f'a dict of {some(sorted(map(str, content)))}' if isinstance(content, dict) else type(content).__name__
        raise UsageError(f'{path} holds {kind}, not a state dict of tensors (nor a checkpoint with a \'state_dict\')')
    wrapped = [name.startswith(DATA_PARALLEL_PREFIX) for name in state]
    if any(wrapped) and not all(wrapped):
        raise UsageError(f'{path}: some state-dict keys start with {DATA_PARALLEL_PREFIX!r} and some do not')
    skip = len(DATA_PARALLEL_PREFIX) if all(wrapped) else 0
    return {name[skip:]: value for name, value in state.items()}


def read_official_state_dict(path):
    """(what the file holds, its state dict with keys without 'module.'), read without running code from it."""
    content = read_torch_file(path)
    return content, state_dict_of(content, path)


def check_official_state_dict(state, reference, path):
    """UsageError unless `state` ({name: tensor}) has the entries and shapes of `reference`, the state dict of the
    official model (`src.convert.official_bam_torch.ResidualNetBAM`), except for the classifier's class count and the
    optional `num_batches_tracked` counters. Returns the number of classes."""
    wanted = {name for name in reference if not name.endswith('num_batches_tracked')}
    given = {name for name in state if not name.endswith('num_batches_tracked')}
    missing, unexpected = sorted(wanted - given), sorted(given - wanted)
    if any('.cbam.' in name for name in unexpected):
        raise UsageError(f'{path} is a CBAM checkpoint (the authors\' other attention module, another architecture); '
                         f'this converter takes their ResNet50+BAM, {RELEASE_FILE}')
    if missing and not any(name.startswith('bam') for name in given):
        raise UsageError(f'{path} has no BAM modules: a plain ResNet or another network, not the authors\' '
                         f'ResNet50+BAM ({RELEASE_FILE})')
    if missing or unexpected:
        problems = ([f'{len(missing)} missing ({some(missing)})'] if missing else []) + \
                   ([f'{len(unexpected)} unexpected ({some(unexpected)})'] if unexpected else [])
        raise UsageError(f'{path} is not the authors\' ResNet50+BAM: state-dict entries {" and ".join(problems)}')
    num_classes = tuple(state['fc.weight'].shape)[0]
    wrong = [f'{name} {tuple(state[name].shape)} != {tuple(value.shape)}' for name, value in reference.items()
             if name in wanted and not name.startswith('fc.') and tuple(state[name].shape) != tuple(value.shape)]
    if tuple(state['fc.weight'].shape)[1:] != tuple(reference['fc.weight'].shape)[1:] or \
            tuple(state['fc.bias'].shape) != (num_classes,):
        wrong.append(f'fc.weight {tuple(state["fc.weight"].shape)} and fc.bias {tuple(state["fc.bias"].shape)} '
                     f'are not a 2048 -> classes classifier')
    if wrong:
        raise UsageError(f'{path} is not the authors\' ResNet50+BAM: {len(wrong)} entries of another shape '
                         f'({some(wrong)})')
    return num_classes


def official_to_mindspore(state_dict):
    """{official name: array} -> {MindSpore parameter name: float32 array}."""
    converted = {}
    for name, value in state_dict.items():
        name = name[len(DATA_PARALLEL_PREFIX):] if name.startswith(DATA_PARALLEL_PREFIX) else name
        module_name, field = name.rsplit('.', 1)
        if field == 'num_batches_tracked':
            continue
        array = np.asarray(value, dtype=np.float32)
        if _is_batchnorm(module_name):
            field = _BATCHNORM_NAMES[field]
        elif '.gate_c_fc_' in name and field == 'weight':
            array = array.reshape(array.shape + (1, 1))
        converted[f'{module_name}.{field}'] = array
    return converted


def _is_batchnorm(module_name):
    leaf = module_name.rsplit('.', 1)[-1]
    # bn1..bn3, gate_c_bn_1, gate_s_bn_*, and the second entry of a `downsample` Sequential.
    return leaf.startswith('bn') or '_bn_' in leaf or module_name.endswith('downsample.1')


def non_finite_entries(arrays):
    """Names of the arrays ({name: array}) that hold NaN or infinite values."""
    return sorted(name for name, array in arrays.items() if not np.isfinite(array).all())

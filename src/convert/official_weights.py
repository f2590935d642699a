"""The authors' PyTorch weights: read a checkpoint file as they published it, tell which network of their family it
holds and check it, and map its state dict onto the parameter names of `src.models.resnet`.

The release (Jongchan/attention-module, README "Resume with checkpoints") is RESNET50_IMAGENET_BAM_best.pth.tar,
written by `torch.save` in PyTorch 0.4.1 (the legacy, pre-zip format) as
{'epoch', 'arch', 'state_dict', 'best_prec1', 'optimizer'}, the model wrapped in DataParallel so that every
state-dict key starts with 'module.', BatchNorm layers carrying `num_batches_tracked`, tensors saved on a GPU.
Also accepted: today's zip format, a bare state dict, and keys without 'module.'.

The networks share their layer names; only BatchNorm's parameter names differ, and the Linear weights (out, in) of
BAM's and CBAM's channel gates become 1x1 convolution weights (out, in, 1, 1). `official_to_mindspore` works on
numpy arrays; `read_official_state_dict` needs PyTorch, imported only when it is called.
"""
import os

import numpy as np

from src.utils.errors import UsageError, some

RELEASE_FILE = 'RESNET50_IMAGENET_BAM_best.pth.tar'
RELEASE_ARCH = 'resnet50_bam'
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


def official_architecture(state, path):
    """(arch, stem, width) of the network of the authors' family (src/models/family.py) that a state dict holds, told
    from its keys and shapes: CBAM's or BAM's modules, basic blocks or bottlenecks and how many in stage 3, the
    stem's kernel, the first convolution's channels; a UsageError for a state dict of none of them."""
    from src.models.family import DEPTHS

    stem_weight = state.get('conv1.weight')
    if stem_weight is None or len(stem_weight.shape) != 4 or tuple(stem_weight.shape[1:]) not in ((3, 7, 7),
                                                                                                  (3, 3, 3)):
        raise UsageError(f'{path} has no ResNet stem (conv1.weight of 7x7 or 3x3 kernels on 3 channels): not a '
                         f'network of the authors\' family')
    stem = 'imagenet' if tuple(stem_weight.shape[2:]) == (7, 7) else 'cifar'
    kind = 'bottleneck' if 'layer1.0.conv3.weight' in state else 'basic'
    stage3 = len({name.split('.')[1] for name in state if name.startswith('layer3.')})
    depth = next((depth for depth, (block, blocks) in DEPTHS.items() if block == kind and blocks[2] == stage3), None)
    if depth is None:
        raise UsageError(f'{path} has {stage3} {kind} blocks in stage 3, which none of the authors\' ResNets '
                         f'(18, 34, 50, 101) has')
    attention = 'cbam' if any('.cbam.' in name for name in state) else \
        'bam' if any(name.startswith('bam1.') for name in state) else ''
    return f'resnet{depth}{"_" + attention if attention else ""}', stem, int(stem_weight.shape[0])


def check_official_state_dict(state, reference, path, arch=RELEASE_ARCH):
    """UsageError unless `state` ({name: tensor}) has the entries and shapes of `reference`, the state dict of the
    official model `arch` (`src.convert.official_resnet_torch.ResidualNet`), except for the classifier's class
    count and the optional `num_batches_tracked` counters. Returns the number of classes."""
    wanted = {name for name in reference if not name.endswith('num_batches_tracked')}
    given = {name for name in state if not name.endswith('num_batches_tracked')}
    missing, unexpected = sorted(wanted - given), sorted(given - wanted)
    if missing or unexpected:
        problems = ([f'{len(missing)} missing ({some(missing)})'] if missing else []) + \
                   ([f'{len(unexpected)} unexpected ({some(unexpected)})'] if unexpected else [])
        raise UsageError(f'{path} is not the authors\' {arch}: state-dict entries {" and ".join(problems)}')
    num_classes = tuple(state['fc.weight'].shape)[0]
    wrong = [f'{name} {tuple(state[name].shape)} != {tuple(value.shape)}' for name, value in reference.items()
             if name in wanted and not name.startswith('fc.') and tuple(state[name].shape) != tuple(value.shape)]
    if tuple(state['fc.weight'].shape)[1:] != tuple(reference['fc.weight'].shape)[1:] or \
            tuple(state['fc.bias'].shape) != (num_classes,):
        wrong.append(f'fc.weight {tuple(state["fc.weight"].shape)} and fc.bias {tuple(state["fc.bias"].shape)} '
                     f'are not a {tuple(reference["fc.weight"].shape)[1]} -> classes classifier')
    if wrong:
        raise UsageError(f'{path} is not the authors\' {arch}: {len(wrong)} entries of another shape '
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
        elif ('.gate_c_fc_' in name or '.ChannelGate.mlp.' in name) and field == 'weight':
            array = array.reshape(array.shape + (1, 1))  # a Linear's (out, in) as a 1x1 convolution's
        converted[f'{module_name}.{field}'] = array
    return converted


def network_with(arrays, arch, stem, width, num_classes):
    """This repository's network `arch` with converted arrays (official_to_mindspore) loaded, in inference mode."""
    import mindspore as ms
    from src.models import create_model

    net = create_model(arch=arch, stem=stem, num_classes=num_classes, base_width=width)
    ms.load_param_into_net(net, {name: ms.Parameter(value, name=name) for name, value in arrays.items()},
                           strict_load=True)
    net.set_train(False)
    return net


def _is_batchnorm(module_name):
    leaf = module_name.rsplit('.', 1)[-1]
    # bn1..bn3, gate_c_bn_1, gate_s_bn_*, and the second entry of a `downsample` Sequential.
    return leaf.startswith('bn') or '_bn_' in leaf or module_name.endswith('downsample.1')


def non_finite_entries(arrays):
    """Names of the arrays ({name: array}) that hold NaN or infinite values."""
    return sorted(name for name, array in arrays.items() if not np.isfinite(array).all())

"""Map a state_dict of the authors' official PyTorch ResNet50-BAM onto `src.ResNet50_BAM` parameter names.

The networks share their layer names; only BatchNorm's parameter names differ, and the channel gate's
Linear weights (out, in) become 1x1 conv weights (out, in, 1, 1). Works on numpy arrays, so it needs no
PyTorch: convert tensors with `.numpy()` first.
"""
import numpy as np

_BATCHNORM_NAMES = {
    'weight': 'gamma',
    'bias': 'beta',
    'running_mean': 'moving_mean',
    'running_var': 'moving_variance',
}


def _is_batchnorm(module_name):
    leaf = module_name.rsplit('.', 1)[-1]
    # bn1..bn3, gate_c_bn_1, gate_s_bn_*, and the second entry of a `downsample` Sequential.
    return leaf.startswith('bn') or '_bn_' in leaf or module_name.endswith('downsample.1')


def official_to_mindspore(state_dict):
    """{official name: array} -> {MindSpore parameter name: float32 array}."""
    converted = {}
    for name, value in state_dict.items():
        name = name[len('module.'):] if name.startswith('module.') else name  # saved from DataParallel
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

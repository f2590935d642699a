"""src/models/small_map_conv.py: convolutions on small maps as matrix products give the convolution's outputs and gradients,
keep every parameter's name and shape (checkpoints interchange), and are used on the CPU unless switched off."""
import copy

import mindspore as ms
import numpy as np
import pytest
import torch
from mindspore import nn, ops

from benchmarks.torch_reference import reference_model
from src.config import defaults
from src.models import create_model, model_options
from src.models.small_map_conv import (CONVOLUTION, POINTWISE, UNROLLED, fast_path, padding_of,
                                            use_small_map_convs)
from src.convert.official_weights import official_to_mindspore
from src.models.layers import conv2d
from src.models.resnet import resnet50_bam

# (in, out, kernel, stride, dilation, map size, bias, the form expected): every kind the network has on 2x2 and
# 1x1 maps at 32x32 (stage 3 and 4 blocks, their strided first blocks, BAM's dilated and gate convs)
SMALL_MAP_CONVS = [
    (16, 24, 3, 1, 1, 2, False, UNROLLED),
    (16, 24, 3, 1, 1, 1, False, UNROLLED),
    (16, 24, 3, 2, 1, 2, False, UNROLLED),
    (16, 24, 1, 1, 1, 2, False, POINTWISE),
    (16, 24, 1, 1, 1, 1, True, POINTWISE),
    (16, 24, 1, 2, 1, 2, False, POINTWISE),
    (16, 24, 3, 2, 1, 4, False, UNROLLED),
    (16, 8, 3, 1, 4, 2, True, UNROLLED),
    (16, 8, 3, 1, 4, 1, True, UNROLLED),
]


def graph_mode(function, *args):
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        return function(*args)
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


def outputs_and_gradients(net, x, sens):
    """The output, the input's gradient and every parameter's gradient (by name) for the output gradient `sens`."""
    params = net.trainable_params()
    grad = ops.GradOperation(get_all=True, get_by_list=True, sens_param=True)
    (input_grad,), param_grads = grad(net, ms.ParameterTuple(params))(x, sens)
    return net(x).asnumpy(), input_grad.asnumpy(), {p.name: g.asnumpy() for p, g in zip(params, param_grads)}


def assert_same_numbers(plain, fast):
    (out_a, dx_a, grads_a), (out_b, dx_b, grads_b) = plain, fast
    np.testing.assert_allclose(out_b, out_a, rtol=1e-4, atol=1e-5 * np.abs(out_a).max())
    np.testing.assert_allclose(dx_b, dx_a, rtol=1e-4, atol=1e-5 * np.abs(dx_a).max())
    assert grads_b.keys() == grads_a.keys()
    for name, grad in grads_a.items():
        np.testing.assert_allclose(grads_b[name], grad, rtol=1e-4, atol=1e-5 * np.abs(grad).max(), err_msg=name)


@pytest.mark.parametrize('in_channels, out_channels, kernel, stride, dilation, size, bias, form', SMALL_MAP_CONVS)
def test_small_map_conv_equals_the_convolution(in_channels, out_channels, kernel, stride, dilation, size, bias,
                                               form):
    plain = conv2d(in_channels, out_channels, kernel, stride=stride, dilation=dilation, bias=bias)
    if bias:
        plain.bias.set_data(ms.Tensor(np.linspace(-1, 1, out_channels, dtype=np.float32)))
    fast = copy.deepcopy(plain)
    assert use_small_map_convs(fast) == 1
    x_shape = (8, in_channels, size, size)
    assert fast_path(x_shape, tuple(fast.weight.shape), fast.stride, fast.dilation, padding_of(fast)) == form
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.standard_normal(x_shape, dtype=np.float32))
    sens = ms.Tensor(rng.standard_normal(plain(x).shape, dtype=np.float32))
    assert_same_numbers(graph_mode(outputs_and_gradients, plain, x, sens),
                        graph_mode(outputs_and_gradients, fast, x, sens))


@pytest.mark.parametrize('kernel, size', [(1, 4), (3, 4), (3, 7), (1, 8)])  # stride 1
def test_larger_maps_stay_convolutions(kernel, size):
    conv = conv2d(16, 16, kernel)
    assert fast_path((8, 16, size, size), (16, 16, kernel, kernel), conv.stride, conv.dilation,
                     padding_of(conv)) == CONVOLUTION


@pytest.fixture(scope='module')
def three_networks():
    """The official model in float64 (PyTorch), ours loaded with its weights, and a copy of ours with the small-map
    convolutions: all full width, 10 classes. The official model's weights come from a seed of their own, whatever
    other tests drew from PyTorch's generator before."""
    torch.manual_seed(0)
    official = reference_model(10)
    ours = resnet50_bam(num_classes=10)
    weights = official_to_mindspore({name: value.numpy() for name, value in official.state_dict().items()})
    ms.load_param_into_net(ours, {name: ms.Parameter(value) for name, value in weights.items()}, strict_load=True)
    fast = copy.deepcopy(ours)
    assert use_small_map_convs(fast) == sum(isinstance(cell, nn.Conv2d) for _, cell in ours.cells_and_names())
    assert [(p.name, p.shape) for p in fast.get_parameters()] == [(p.name, p.shape) for p in ours.get_parameters()]
    return official.double(), ours, fast


def float64_reference(official, x, sens):
    official.eval()
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    output = official(x)
    (output * torch.tensor(sens, dtype=torch.float64)).sum().backward()
    grads = official_to_mindspore({name: param.grad.numpy() for name, param in official.named_parameters()})
    official.zero_grad()
    return output.detach().numpy(), x.grad.numpy(), grads


def test_the_network_keeps_its_numbers(three_networks):
    """At 32x32 (stage 3 on 2x2 maps, stage 4 on 1x1), the logits are as close to the float64 truth with the
    small-map convolutions as without (within 1e-4 of the largest logit, or 4x the plain network's own error), and
    the gradients of the input and of all parameters together are within 5% and 1% of the truth, as the plain
    network's are. Gradients pass ReLUs and the stem's max-pool, where a value a rounding away from a kink (or a
    tie) sends its gradient elsewhere in float32 than in float64: over PyTorch seeds 0-7 either network, or both,
    was off by up to 0.9% (input) and 0.4% (parameters) that way, the other within 1e-5. Each layer's forward and
    backward equality, away from such kinks, is what test_small_map_conv_equals_the_convolution checks exactly. Inference mode: in training mode BatchNorm's batch
    statistics over 16 values on 1x1 maps amplify float32 rounding until the plain network itself drifts from the
    truth by percents, differently from run to run."""
    official, ours, fast = three_networks
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 3, 32, 32), dtype=np.float32)
    sens = rng.standard_normal((16, 10), dtype=np.float32)
    truth = float64_reference(official, x, sens)
    plain_run, fast_run = (graph_mode(outputs_and_gradients, net.set_train(False), ms.Tensor(x), ms.Tensor(sens))
                           for net in (ours, fast))

    def largest_error(ours, reference):
        return np.abs(ours - reference).max() / np.abs(reference).max()

    assert largest_error(fast_run[0], truth[0]) <= max(4 * largest_error(plain_run[0], truth[0]), 1e-4)
    assert fast_run[2].keys() == truth[2].keys()

    def norm_error(ours, reference):
        return np.linalg.norm(ours.astype(np.float64) - reference) / np.linalg.norm(reference)

    names = sorted(truth[2])
    all_parameters = [np.concatenate([np.ravel(gradients[name]) for name in names])
                      for gradients in (plain_run[2], fast_run[2], truth[2])]
    for run in (plain_run, fast_run):
        assert norm_error(run[1], truth[1]) <= 0.05
    for gradients in all_parameters[:2]:
        assert norm_error(gradients, all_parameters[2]) <= 0.01


@pytest.mark.slow
def test_checkpoints_interchange(tmp_path):
    ms.set_seed(4)
    fast = resnet50_bam(num_classes=10, base_width=8)
    use_small_map_convs(fast)
    path = str(tmp_path / 'fast.ckpt')
    ms.save_checkpoint(fast, path)
    plain = resnet50_bam(num_classes=10, base_width=8)
    assert not ms.load_param_into_net(plain, ms.load_checkpoint(path))[0]
    fast.set_train(False)
    plain.set_train(False)
    x = ms.Tensor(np.random.default_rng(5).standard_normal((2, 3, 32, 32), dtype=np.float32))
    np.testing.assert_allclose(graph_mode(fast, x).asnumpy(), graph_mode(plain, x).asnumpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('device_target, setting, used', [('CPU', True, True), ('CPU', False, False),
                                                          ('GPU', True, False)])
def test_used_on_the_cpu_unless_switched_off(device_target, setting, used):
    cfg = defaults()
    assert cfg.cpu_fast_conv  # on by default
    cfg.cpu_fast_conv = setting
    cfg.num_classes, cfg.base_width = 10, 8
    net = create_model(**model_options(cfg, device_target))
    assert any(type(cell) is not nn.Conv2d and isinstance(cell, nn.Conv2d)  # pylint: disable=unidiomatic-typecheck
               for _, cell in net.cells_and_names()) == used

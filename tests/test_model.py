"""The network: shapes, sizes, equivalence with the official PyTorch model, fusion modes, modes, gradients,
BAM's formula on hand-set weights, and the official initialisation."""
import math

import mindspore as ms
import numpy as np
import pytest
import torch
from mindspore import nn

from conftest import official_torch_model
from src.convert.official_resnet_torch import ResidualNetBAM
from src.convert.official_weights import official_to_mindspore
from src.models.bam import BAM
from src.models.family import DEPTHS
from src.models.resnet import resnet50_bam

STAGE_DEPTHS = DEPTHS[50][1]  # ResNet-50's blocks per stage

FULL_TRAINABLE = 25_915_099
BAM_TRAINABLE = {'bam1': 17_361, 'bam2': 68_513, 'bam3': 272_193}
RESNET50_TRAINABLE = 25_557_032


def trainable_by_prefix(net):
    counts = {}
    for param in net.trainable_params():
        prefix = param.name.split('.')[0]
        counts[prefix] = counts.get(prefix, 0) + param.size
    return counts


def images(batch, size, seed=0):
    return np.random.RandomState(seed).randn(batch, 3, size, size).astype(np.float32)


@pytest.fixture(scope='module')
def official_pair():
    """The official PyTorch model with random weights and BN statistics, and our model loaded from it."""
    official = official_torch_model()
    ours = resnet50_bam()
    converted = official_to_mindspore({f'module.{k}': v.numpy() for k, v in official.state_dict().items()})
    assert set(converted) == {param.name for param in ours.get_parameters()}
    ms.load_param_into_net(ours, {k: ms.Parameter(v) for k, v in converted.items()}, strict_load=True)
    return official, ours


def relative_error(ours, reference):
    return float(np.abs(ours - reference).max() / np.abs(reference).max())


def test_parameter_counts():
    net = resnet50_bam()
    counts = trainable_by_prefix(net)
    assert sum(counts.values()) == FULL_TRAINABLE
    for name, expected in BAM_TRAINABLE.items():
        assert counts[name] == expected
    assert sum(v for k, v in counts.items() if not k.startswith('bam')) == RESNET50_TRAINABLE
    ten_classes = sum(p.size for p in resnet50_bam(num_classes=10).trainable_params())
    assert ten_classes == FULL_TRAINABLE - 2049 * 990


def test_official_model_has_the_same_parameter_count(official_pair):
    official, _ = official_pair
    assert sum(p.numel() for p in official.parameters()) == FULL_TRAINABLE


def test_same_logits_as_official_model_in_eval_mode(official_pair):
    official, ours = official_pair
    x = images(2, 224)
    official.eval()
    ours.set_train(False)
    with torch.no_grad():
        reference = official(torch.from_numpy(x)).numpy()
    logits = ours(ms.Tensor(x)).asnumpy()
    assert logits.shape == (2, 1000)
    assert relative_error(logits, reference) < 1e-4


def test_same_logits_as_official_model_with_batch_statistics(official_pair):
    """Training mode normalises with batch statistics: the channel gate's BatchNorm2d on (N, C, 1, 1) must
    equal the official BatchNorm1d on (N, C)."""
    official, ours = official_pair
    x = images(3, 224, seed=1)
    official.train()
    ours.set_train(True)
    try:
        with torch.no_grad():
            reference = official(torch.from_numpy(x)).numpy()
        logits = ours(ms.Tensor(x)).asnumpy()
    finally:
        official.eval()
        ours.set_train(False)
    assert relative_error(logits, reference) < 1e-4


@pytest.mark.parametrize('size', [32, 47, 64, 100])
@pytest.mark.parametrize('batch', [1, 4])
def test_output_shape_at_any_input_size(size, batch):
    net = resnet50_bam(num_classes=7, base_width=8)
    net.set_train(False)
    assert net(ms.Tensor(images(batch, size))).shape == (batch, 7)


def test_non_square_input():
    net = resnet50_bam(num_classes=5, base_width=8)
    net.set_train(False)
    x = np.random.RandomState(0).randn(2, 3, 48, 80).astype(np.float32)
    assert net(ms.Tensor(x)).shape == (2, 5)


def test_fusion_modes_share_parameters_and_differ():
    ms.set_seed(3)
    product = resnet50_bam(num_classes=10, base_width=8, fusion='product')
    total = resnet50_bam(num_classes=10, base_width=8, fusion='sum')
    ms.load_param_into_net(total, {p.name: ms.Parameter(p.asnumpy()) for p in product.get_parameters()},
                           strict_load=True)
    product.set_train(False)
    total.set_train(False)
    x = ms.Tensor(images(2, 64))
    assert not np.allclose(product(x).asnumpy(), total(x).asnumpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize('fusion, combine', [('product', lambda c, s: c * s), ('sum', lambda c, s: c + s)])
def test_bam_is_x_times_one_plus_sigmoid_of_fused_gates(fusion, combine):
    """With zero weights in both final layers, Mc and Ms are their biases: F' = F * (1 + sigmoid(c o s))."""
    channels, c, s = 64, 1.5, -0.8
    bam = BAM(channels, fusion)
    bam.set_train(False)
    final_c = bam.channel_att.gate_c.gate_c_fc_final
    final_s = bam.spatial_att.gate_s.gate_s_conv_final
    final_c.weight.set_data(ms.Tensor(np.zeros(final_c.weight.shape, np.float32)))
    final_c.bias.set_data(ms.Tensor(np.full(final_c.bias.shape, c, np.float32)))
    final_s.weight.set_data(ms.Tensor(np.zeros(final_s.weight.shape, np.float32)))
    final_s.bias.set_data(ms.Tensor(np.full(final_s.bias.shape, s, np.float32)))
    x = np.random.RandomState(0).randn(2, channels, 9, 9).astype(np.float32)
    expected = x * (1 + 1 / (1 + math.exp(-combine(c, s))))
    np.testing.assert_allclose(bam(ms.Tensor(x)).asnumpy(), expected, rtol=1e-5, atol=1e-6)


def test_bam_attention_varies_over_channels_and_space():
    """With the official initialisation, M(F) depends on both channel and position, as both gates should."""
    bam = BAM(64)
    bam.set_train(False)
    attention = bam.attention(ms.Tensor(np.random.RandomState(1).rand(2, 64, 8, 8).astype(np.float32))).asnumpy()
    assert attention.shape == (2, 64, 8, 8)
    assert attention.std(axis=1).mean() > 1e-4  # across channels
    assert attention.std(axis=(2, 3)).mean() > 1e-4  # across positions


def test_graph_mode_equals_pynative_mode():
    ms.set_seed(5)
    net = resnet50_bam(num_classes=10, base_width=8)
    net.set_train(False)
    x = ms.Tensor(images(2, 64))
    pynative = net(x).asnumpy()
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        graph = net(x).asnumpy()
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    np.testing.assert_allclose(graph, pynative, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('fusion', ['product', 'sum'])
def test_gradients_reach_every_bam_parameter(fusion):
    ms.set_seed(7)
    net = resnet50_bam(num_classes=10, base_width=8, fusion=fusion)
    net.set_train(True)
    loss_net = nn.WithLossCell(net, nn.CrossEntropyLoss())
    params = net.trainable_params()
    grad_fn = ms.value_and_grad(loss_net, None, weights=params)
    labels = ms.Tensor(np.arange(4, dtype=np.int32) % 10)
    loss, grads = grad_fn(ms.Tensor(images(4, 64)), labels)
    assert np.isfinite(loss.asnumpy())
    bam_grads = {p.name: g.asnumpy() for p, g in zip(params, grads) if p.name.startswith('bam')}
    assert len(bam_grads) == 3 * 20  # per BAM: 6 convs x (weight, bias) + 4 BatchNorms x (gamma, beta)
    dead = [name for name, grad in bam_grads.items() if not np.isfinite(grad).all() or not np.abs(grad).max() > 0]
    assert not dead, f'no gradient reaches {dead}'


def _std(param):
    return float(param.asnumpy().std())


def test_official_initialisation():
    ms.set_seed(11)
    net = resnet50_bam()
    params = {p.name: p for p in net.get_parameters()}
    # convs named conv: kaiming normal, fan_out
    for name in ('conv1.weight', 'layer1.0.conv2.weight', 'layer3.2.conv3.weight',
                 'bam2.spatial_att.gate_s.gate_s_conv_di_0.weight'):
        out_channels, _, kh, kw = params[name].shape
        assert _std(params[name]) == pytest.approx(math.sqrt(2 / (out_channels * kh * kw)), rel=0.1), name
    # shortcut convs and channel-gate MLP: PyTorch's default, uniform within 1/sqrt(fan_in)
    for name in ('layer2.0.downsample.0.weight', 'bam3.channel_att.gate_c.gate_c_fc_0.weight'):
        values = params[name].asnumpy()
        bound = 1 / math.sqrt(np.prod(values.shape[1:]))
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound, name
    assert _std(params['fc.weight']) == pytest.approx(math.sqrt(2 / 2048), rel=0.05)
    for name, param in params.items():
        values = param.asnumpy()
        if name.endswith(('.bias', '.beta', 'moving_mean')):
            assert not values.any(), name
        elif name.endswith(('.gamma', 'moving_variance')):
            assert (values == 1).all(), name


def test_official_weight_names_map_onto_the_network():
    official = ResidualNetBAM(num_classes=10).state_dict()
    converted = official_to_mindspore({f'module.{k}': v.numpy() for k, v in official.items()})
    net = resnet50_bam(num_classes=10)
    shapes = {p.name: tuple(p.shape) for p in net.get_parameters()}
    assert {name: value.shape for name, value in converted.items()} == shapes


@pytest.mark.parametrize('options, message', [
    ({'fusion': 'max'}, 'fusion'),
    ({'base_width': 6}, 'multiple of 4'),
    ({'num_classes': 0}, 'num_classes'),
])
def test_bad_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        resnet50_bam(**options)


def test_zero_init_residual_starts_every_block_as_its_shortcut():
    net = resnet50_bam(num_classes=10, base_width=8, zero_init_residual=True)
    zero_scales = sorted(p.name for p in net.get_parameters() if p.name.endswith('.gamma') and not p.asnumpy().any())
    assert zero_scales == sorted(f'layer{stage + 1}.{block}.bn3.gamma'
                                 for stage, depth in enumerate(STAGE_DEPTHS) for block in range(depth))
    net.set_train(False)
    x = ms.Tensor(np.abs(images(2, 16)).repeat(11, axis=1)[:, :32])  # a ReLU output, as between blocks
    projecting, identity = net.layer2[0], net.layer2[1]
    np.testing.assert_allclose(projecting(x).asnumpy(), np.maximum(projecting.downsample(x).asnumpy(), 0), atol=1e-6)
    y = projecting(x)
    np.testing.assert_array_equal(identity(y).asnumpy(), y.asnumpy())

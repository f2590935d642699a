"""BAM, the Bottleneck Attention Module (Park, Woo, Lee, Kweon: "BAM: Bottleneck Attention Module", BMVC 2018),
as the authors' official code builds it: F' = F * (1 + sigmoid(M(F))), M(F) from a channel gate and a spatial gate,
parameter names as theirs (`channel_att.gate_c.gate_c_fc_0.weight`, ...).

Two choices keep the numbers identical while letting the model export to ONNX and run in OpenCV's DNN module:
- the channel gate's MLP runs as 1x1 convolutions on the pooled (N, C, 1, 1) map (a Linear (out, in) weight is the
  same numbers as a 1x1 conv (out, in, 1, 1) weight), so its BatchNorm is a BatchNorm2d and the batch dimension
  stays dynamic in ONNX;
- both gate maps are expanded to the input's shape before they are combined, as the official code's `expand_as`
  does.
"""
from collections import OrderedDict

import mindspore.nn as nn
import mindspore.ops as ops

from src.models.family import REDUCTIONS
from src.models.layers import conv2d, pytorch_default

FUSIONS = ('product', 'sum')
REDUCTION = REDUCTIONS['bam']  # BAM's reduction ratio r
DILATION = 4    # BAM's dilation value d


class ChannelGate(nn.Cell):
    """Mc(F): global average pool, then an MLP with one hidden layer of C/r units; shape (N, C, 1, 1)."""

    def __init__(self, channels):
        super().__init__()
        hidden = channels // REDUCTION
        self.gate_c = nn.SequentialCell(OrderedDict([
            ('gate_c_fc_0', conv2d(channels, hidden, 1, bias=True, weight_init=pytorch_default())),
            ('gate_c_bn_1', nn.BatchNorm2d(hidden)),
            ('gate_c_relu_1', nn.ReLU()),
            ('gate_c_fc_final', conv2d(hidden, channels, 1, bias=True, weight_init=pytorch_default())),
        ]))

    def construct(self, x):
        return self.gate_c(x.mean(axis=(2, 3), keep_dims=True))


class SpatialGate(nn.Cell):
    """Ms(F): 1x1 reduction to C/r, two dilated 3x3 convs, 1x1 projection to one map; shape (N, 1, H, W)."""

    def __init__(self, channels, dilated_convs=2):
        super().__init__()
        hidden = channels // REDUCTION
        layers = [
            ('gate_s_conv_reduce0', conv2d(channels, hidden, 1, bias=True)),
            ('gate_s_bn_reduce0', nn.BatchNorm2d(hidden)),
            ('gate_s_relu_reduce0', nn.ReLU()),
        ]
        for i in range(dilated_convs):
            layers += [
                (f'gate_s_conv_di_{i}', conv2d(hidden, hidden, 3, dilation=DILATION, bias=True)),
                (f'gate_s_bn_di_{i}', nn.BatchNorm2d(hidden)),
                (f'gate_s_relu_di_{i}', nn.ReLU()),
            ]
        layers.append(('gate_s_conv_final', conv2d(hidden, 1, 1, bias=True)))
        self.gate_s = nn.SequentialCell(OrderedDict(layers))

    def construct(self, x):
        return self.gate_s(x)


class BAM(nn.Cell):
    """F' = F * (1 + sigmoid(M(F))), with M(F) = Mc(F) * Ms(F) (official code) or Mc(F) + Ms(F) (paper)."""

    def __init__(self, channels, fusion='product'):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"BAM fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
        self.channel_att = ChannelGate(channels)
        self.spatial_att = SpatialGate(channels)
        self.fuse = ops.mul if fusion == 'product' else ops.add

    def attention(self, x):
        """M(F) before the sigmoid, at the input's full shape."""
        channel = ops.broadcast_to(self.channel_att(x), x.shape)
        spatial = ops.broadcast_to(self.spatial_att(x), x.shape)
        return self.fuse(channel, spatial)

    def construct(self, x):
        return x * (1 + ops.sigmoid(self.attention(x)))

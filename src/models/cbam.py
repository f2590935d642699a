"""CBAM, the Convolutional Block Attention Module (Woo, Park, Lee, Kweon: "CBAM: Convolutional Block Attention
Module", ECCV 2018), as the authors' official code builds it (Jongchan/attention-module, MODELS/cbam.py), with their
parameter names (`ChannelGate.mlp.1.weight`, `SpatialGate.spatial.conv.weight`, ...): a residual block's output is
scaled by a channel gate, then by a spatial gate, before the shortcut is added.

- Channel gate: one MLP (C -> C/16 with bias, ReLU, C/16 -> C with bias) applied to the average-pooled and to the
  max-pooled features, the two outputs summed, then a sigmoid. The MLP runs as 1x1 convolutions on the pooled
  (N, C, 1, 1) maps (the same numbers as their Linears), so that the batch stays dynamic in ONNX.
- Spatial gate: the per-pixel maximum and mean over the channels (in that order), a 7x7 convolution from 2 maps to
  1 without bias, a BatchNorm (PyTorch's momentum 0.01, MindSpore's 0.99) and no ReLU, then a sigmoid. The authors'
  initialisation sets this BatchNorm's scale to 0, so every spatial gate starts at a uniform 0.5.
"""
from collections import OrderedDict

import mindspore.nn as nn
import mindspore.ops as ops

from src.models.family import REDUCTIONS
from src.models.layers import conv2d, pytorch_default

REDUCTION = REDUCTIONS['cbam']  # the channel gate's reduction ratio r
SPATIAL_KERNEL = 7
SPATIAL_BATCHNORM_MOMENTUM = 0.99  # MindSpore's convention for PyTorch's momentum=0.01


class ChannelGate(nn.Cell):
    def __init__(self, channels):
        super().__init__()
        hidden = channels // REDUCTION
        self.mlp = nn.SequentialCell(OrderedDict([
            ('1', conv2d(channels, hidden, 1, bias=True, weight_init=pytorch_default())),
            ('2', nn.ReLU()),
            ('3', conv2d(hidden, channels, 1, bias=True, weight_init=pytorch_default())),
        ]))

    def construct(self, x):
        average = x.mean(axis=(2, 3), keep_dims=True)
        largest = ops.amax(x, axis=(2, 3), keepdims=True)
        return x * ops.sigmoid(self.mlp(average) + self.mlp(largest))


class ConvBatchNorm(nn.Cell):
    """Their BasicConv without its ReLU: a convolution and a BatchNorm under the names `conv` and `bn`."""

    def __init__(self, in_channels, out_channels, kernel_size):
        super().__init__()
        self.conv = conv2d(in_channels, out_channels, kernel_size)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-5, momentum=SPATIAL_BATCHNORM_MOMENTUM, gamma_init='zeros')

    def construct(self, x):
        return self.bn(self.conv(x))


class SpatialGate(nn.Cell):
    def __init__(self):
        super().__init__()
        self.spatial = ConvBatchNorm(2, 1, SPATIAL_KERNEL)

    def attention(self, x):
        """The map before the sigmoid, (N, 1, H, W): what attention pictures show."""
        pooled = ops.cat((ops.amax(x, axis=1, keepdims=True), x.mean(axis=1, keep_dims=True)), axis=1)
        return self.spatial(pooled)

    def construct(self, x):
        return x * ops.sigmoid(self.attention(x))


class CBAM(nn.Cell):
    def __init__(self, channels):
        super().__init__()
        self.ChannelGate = ChannelGate(channels)  # pylint: disable=invalid-name  # the authors' parameter names
        self.SpatialGate = SpatialGate()  # pylint: disable=invalid-name

    def construct(self, x):
        return self.SpatialGate(self.ChannelGate(x))

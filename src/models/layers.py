"""Layers the network is built from, as the authors' PyTorch code builds them: its initialisations, its
convolution padding, and a zero border for the stem's max-pool."""
import math

import mindspore.nn as nn
import mindspore.ops as ops
from mindspore.common.initializer import HeNormal, HeUniform


def kaiming_normal_fan_out():
    """The official initialisation of every conv whose name contains 'conv'."""
    return HeNormal(mode='fan_out', nonlinearity='relu')


def pytorch_default():
    """PyTorch's default init, kept by the official code for shortcut convs and the channel gate's Linears."""
    return HeUniform(negative_slope=math.sqrt(5))


def conv2d(in_channels, out_channels, kernel_size, *, stride=1, dilation=1, bias=False, weight_init=None):
    """A convolution with the symmetric padding of PyTorch's `padding=dilation * (k // 2)`."""
    padding = dilation * (kernel_size // 2)
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                     pad_mode='pad' if padding else 'valid', padding=padding, dilation=dilation,
                     has_bias=bias, weight_init=weight_init or kaiming_normal_fan_out(), bias_init='zeros')


class ZeroBorder(nn.Cell):
    """A border of one zero around H and W. Written as zero slices concatenated to the input because MindSpore's
    CPU Pad kernels are slow (nn.Pad: 0.35 s, ops.pad: 0.16 s on the 16 x 64 x 112 x 112 stem map, this: 0.016 s).
    The zeros are `slice * 0` (the input is a finite ReLU output) rather than `zeros_like(slice)`: ONNX export folds
    zeros_like into a constant of the example's batch, which breaks the file's dynamic batch."""

    def construct(self, x):
        column = x[:, :, :, :1] * 0
        x = ops.cat((column, x, column), axis=3)
        row = x[:, :, :1, :] * 0
        return ops.cat((row, x, row), axis=2)

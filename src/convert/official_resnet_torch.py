"""The authors' official ResNets with BAM, CBAM or neither (Jongchan/attention-module, MODELS/model_resnet.py,
bam.py and cbam.py: `ResidualNet(network_type, depth, num_classes, att_type)`) in PyTorch: the reference that
convert_checkpoint.py loads the authors' weights into, to check that the converted MindSpore network gives the same
logits, and that the tests compare src/models/resnet.py against.

It keeps the official modules, names and quirks: BAM's channel gate of Linear + BatchNorm1d layers on the input
average-pooled with a kernel of its height, CBAM's shared MLP (a Sequential whose Linears are entries 1 and 3) and
its spatial gate's BatchNorm with momentum 0.01, the stem max-pool padded with -inf, a fixed average pool before the
classifier (7x7 after the ImageNet stem, so only 224x224 inputs work; 4x4 after the CIFAR stem, so 32x32),
`expand_as` before BAM's gates are multiplied. It also keeps the official initialisation: convolutions
kaiming-normal (fan-out), the classifier kaiming-normal (fan-in), BatchNorm scales 1 but those of CBAM's spatial
gates 0, every bias 0, and PyTorch's defaults for the shortcut convolutions and the gates' Linears (their keys hold
neither 'conv' nor 'bn'). Where the code published at first differs, this follows the later commit (c06383c):
CBAM in a bottleneck has the block's 4x wider output channels, and `_make_layer` takes its `stride`; BAM's channel
gate reads an undefined `gate_activation`, dropped here, which changes no weight and no number. `width` (64 in
their code) scales every stage, so that the tests can compare small networks.

Only convert_checkpoint.py, the benchmarks and the tests import this module: PyTorch is needed by them alone.
"""
from collections import OrderedDict

import torch
from torch import nn
import torch.nn.functional as F

from src.models.family import parse_arch

REDUCTION = 16
ATT_TYPE = {'': None, 'bam': 'BAM', 'cbam': 'CBAM'}  # their att_type for each attention of family.py
CHECK_SIZE = {'imagenet': 224, 'cifar': 32}  # the only input their fixed average pool takes after each stem


class ChannelGate(nn.Module):
    def __init__(self, channels):
        super().__init__()
        hidden = channels // REDUCTION
        self.gate_c = nn.Sequential(OrderedDict([
            ('flatten', nn.Flatten()),
            ('gate_c_fc_0', nn.Linear(channels, hidden)),
            ('gate_c_bn_1', nn.BatchNorm1d(hidden)),
            ('gate_c_relu_1', nn.ReLU()),
            ('gate_c_fc_final', nn.Linear(hidden, channels)),
        ]))

    def forward(self, x):
        pooled = F.avg_pool2d(x, x.size(2), stride=x.size(2))
        return self.gate_c(pooled).unsqueeze(2).unsqueeze(3).expand_as(x)


class SpatialGate(nn.Module):
    def __init__(self, channels, dilation=4):
        super().__init__()
        hidden = channels // REDUCTION
        layers = [('gate_s_conv_reduce0', nn.Conv2d(channels, hidden, 1)),
                  ('gate_s_bn_reduce0', nn.BatchNorm2d(hidden)),
                  ('gate_s_relu_reduce0', nn.ReLU())]
        for i in range(2):
            layers += [(f'gate_s_conv_di_{i}', nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation)),
                       (f'gate_s_bn_di_{i}', nn.BatchNorm2d(hidden)),
                       (f'gate_s_relu_di_{i}', nn.ReLU())]
        layers.append(('gate_s_conv_final', nn.Conv2d(hidden, 1, 1)))
        self.gate_s = nn.Sequential(OrderedDict(layers))

    def forward(self, x):
        return self.gate_s(x).expand_as(x)


class BAM(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channel_att = ChannelGate(channels)
        self.spatial_att = SpatialGate(channels)

    def forward(self, x):
        return x * (1 + torch.sigmoid(self.channel_att(x) * self.spatial_att(x)))


class CBAMChannelGate(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // REDUCTION), nn.ReLU(),
                                 nn.Linear(channels // REDUCTION, channels))

    def forward(self, x):
        size = (x.size(2), x.size(3))
        total = self.mlp(F.avg_pool2d(x, size, stride=size)) + self.mlp(F.max_pool2d(x, size, stride=size))
        return x * torch.sigmoid(total).unsqueeze(2).unsqueeze(3).expand_as(x)


class BasicConv(nn.Module):
    def __init__(self, in_planes, out_planes, kernel_size, padding):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01, affine=True)

    def forward(self, x):
        return self.bn(self.conv(x))


class CBAMSpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = BasicConv(2, 1, 7, padding=3)

    def forward(self, x):
        pooled = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.ChannelGate = CBAMChannelGate(channels)  # pylint: disable=invalid-name
        self.SpatialGate = CBAMSpatialGate()  # pylint: disable=invalid-name

    def forward(self, x):
        return self.SpatialGate(self.ChannelGate(x))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, use_cbam=False):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.cbam = CBAM(planes) if use_cbam else None

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.cbam is not None:
            out = self.cbam(out)
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, use_cbam=False):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.cbam = CBAM(planes * 4) if use_cbam else None

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.cbam is not None:
            out = self.cbam(out)
        return self.relu(out + residual)


BLOCKS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3)),
          101: (Bottleneck, (3, 4, 23, 3))}


class ResidualNet(nn.Module):
    """`ResidualNet(network_type, depth, num_classes, att_type)` of the official code: network_type 'ImageNet',
    'CIFAR10' or 'CIFAR100', depth 18, 34, 50 or 101, att_type 'BAM', 'CBAM' or None."""

    def __init__(self, network_type, depth, num_classes, att_type=None, width=64):
        super().__init__()
        block, layers = BLOCKS[depth]
        self.network_type = network_type
        self.inplanes = width
        if network_type == 'ImageNet':
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.avgpool = nn.AvgPool2d(7)
        else:
            self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        if att_type == 'BAM':
            self.bam1 = BAM(width * block.expansion)
            self.bam2 = BAM(width * 2 * block.expansion)
            self.bam3 = BAM(width * 4 * block.expansion)
        else:
            self.bam1, self.bam2, self.bam3 = None, None, None
        cbam = att_type == 'CBAM'
        self.layer1 = self._make_layer(block, width, layers[0], cbam=cbam)
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2, cbam=cbam)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2, cbam=cbam)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2, cbam=cbam)
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        self._official_init()

    def _make_layer(self, block, planes, blocks, stride=1, cbam=False):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride,
                                                 bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, use_cbam=cbam)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, use_cbam=cbam) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _official_init(self):
        # By state_dict key, as the official code does: keys without 'conv' or 'bn' keep PyTorch's defaults.
        nn.init.kaiming_normal_(self.fc.weight)
        state = self.state_dict()
        with torch.no_grad():
            for key, value in state.items():
                field = key.rsplit('.', 1)[-1]
                if field == 'weight' and 'conv' in key:
                    nn.init.kaiming_normal_(value, mode='fan_out')
                elif field == 'weight' and 'bn' in key:
                    value.fill_(0 if 'SpatialGate' in key else 1)
                elif field == 'bias':
                    value.zero_()

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if self.network_type == 'ImageNet':
            x = self.maxpool(x)
        x = self.layer1(x)
        if self.bam1 is not None:
            x = self.bam1(x)
        x = self.layer2(x)
        if self.bam2 is not None:
            x = self.bam2(x)
        x = self.layer3(x)
        if self.bam3 is not None:
            x = self.bam3(x)
        x = self.layer4(x)
        x = self.avgpool(x) if self.network_type == 'ImageNet' else F.avg_pool2d(x, 4)
        return self.fc(torch.flatten(x, 1))


def ResidualNetBAM(num_classes=1000):  # pylint: disable=invalid-name  # the released model, as their code names it
    """The authors' released ResNet50-BAM: ResidualNet('ImageNet', 50, num_classes, 'BAM')."""
    return ResidualNet('ImageNet', 50, num_classes, 'BAM')


def official_model(arch, stem, num_classes, width=64):
    """The authors' model for one of this repository's --arch and --stem names (src/models/family.py), with the
    official initialisation, in training mode as PyTorch builds it."""
    depth, attention = parse_arch(arch)
    return ResidualNet('ImageNet' if stem == 'imagenet' else 'CIFAR10', depth, num_classes, ATT_TYPE[attention],
                       width=width)


def with_random_state(model, seed=0):
    """`model` with random BatchNorm statistics, scales and biases (the initial ones, 0 and 1, would hide a mix-up of
    BatchNorm fields), drawn from `seed`, in inference mode: a network to compare conversions with."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if name.endswith('running_var'):
                value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
            elif name.endswith(('running_mean', 'bias')):
                value.copy_(torch.randn(value.shape, generator=generator) * 0.1)
            elif value.dim() == 1 and name.endswith('weight'):  # BatchNorm scales
                value.copy_(1 + torch.randn(value.shape, generator=generator) * 0.1)
    return model.eval()

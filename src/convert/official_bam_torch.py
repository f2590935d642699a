"""The authors' official ImageNet ResNet50+BAM (Jongchan/attention-module, `ResidualNet('ImageNet', 50, 1000,
'BAM')`) in PyTorch: the reference that convert_checkpoint.py loads the authors' weights into, to check that the
converted MindSpore network gives the same logits, and that the tests compare src/models/resnet50_bam.py against.

It keeps the official modules, names and quirks: a channel gate of Linear + BatchNorm1d layers on the input
average-pooled with a kernel of its height, the stem max-pool padded with -inf, a fixed 7x7 average pool before the
classifier (so only 224x224 inputs work), `expand_as` before the gates are multiplied. It also keeps the official
initialisation: convolutions kaiming-normal (fan-out), the classifier kaiming-normal (fan-in), BatchNorm scales 1,
every bias 0, and PyTorch's defaults for the shortcut convolutions and the channel gate's Linears (their keys hold
neither 'conv' nor 'bn'). The official code crashes as published: its channel gate reads an undefined
`gate_activation`, and `_make_layer` uses a `stride` it does not take; here the first is dropped and the second
is a parameter, which changes no weight and no number.

Only convert_checkpoint.py, benchmarks/torch_reference.py and the tests import this module: PyTorch is needed by
them alone.
"""
from collections import OrderedDict

import torch
from torch import nn
import torch.nn.functional as F

REDUCTION = 16


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


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


class ResidualNetBAM(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avgpool = nn.AvgPool2d(7)
        self.bam1, self.bam2, self.bam3 = BAM(256), BAM(512), BAM(1024)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2)
        self.layer4 = self._make_layer(512, 3, stride=2)
        self.fc = nn.Linear(2048, num_classes)
        self._official_init()

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
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
                    value.fill_(1)
                elif field == 'bias':
                    value.zero_()

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.bam1(self.layer1(x))
        x = self.bam2(self.layer2(x))
        x = self.bam3(self.layer3(x))
        x = self.layer4(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))

"""ResNet-50 with Bottleneck Attention Modules (Park, Woo, Lee, Kweon: "BAM: Bottleneck Attention Module",
BMVC 2018; the module itself: bam.py).

The network is the authors' official ImageNet model (ResidualNet('ImageNet', 50, 1000, 'BAM')): a BAM after stages
1, 2 and 3 of a ResNet-50 whose down-sampling stride sits on the 3x3 conv. With the same weights it gives the same
logits. Parameter names follow the official ones (`bam1.channel_att.gate_c.gate_c_fc_0.weight`,
`layer1.0.downsample.0.weight`, ...) so a checkpoint of the authors' release maps over name by name. The stem
max-pool follows a ReLU, so padding with zeros and pooling without padding equals the official pool that pads with
-inf, and exports (to ONNX, for OpenCV's DNN module) as a plain pool.
"""
import mindspore.nn as nn
from mindspore.common.initializer import HeNormal

from src.models.bam import BAM, REDUCTION
from src.models.layers import ZeroBorder, conv2d, pytorch_default

STAGE_DEPTHS = (3, 4, 6, 3)
EXPANSION = 4


class Bottleneck(nn.Cell):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand; projection shortcut when the shape changes."""

    def __init__(self, in_channels, width, stride=1, zero_init_residual=False):
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = conv2d(in_channels, width, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv2d(width, width, 3, stride=stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv2d(width, out_channels, 1)
        # A zero scale makes the block start as its shortcut (Goyal et al. 2017, "Accurate, large minibatch SGD").
        self.bn3 = nn.BatchNorm2d(out_channels, gamma_init='zeros' if zero_init_residual else 'ones')
        self.relu = nn.ReLU()
        self.has_projection = stride != 1 or in_channels != out_channels
        if self.has_projection:
            self.downsample = nn.SequentialCell([
                conv2d(in_channels, out_channels, 1, stride=stride, weight_init=pytorch_default()),
                nn.BatchNorm2d(out_channels),
            ])

    def construct(self, x):
        shortcut = self.downsample(x) if self.has_projection else x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class ResNet50BAM(nn.Cell):
    """Stem, four bottleneck stages with a BAM after each of the first three, global pool, classifier."""

    def __init__(self, num_classes=1000, *, base_width=64, fusion='product', zero_init_residual=False):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f'num_classes must be at least 1, got {num_classes}')
        if base_width < 4 or base_width % 4:
            raise ValueError(f'base_width must be a positive multiple of 4 (BAM divides '
                             f'{EXPANSION}x the width by {REDUCTION}), got {base_width}')
        self.conv1 = conv2d(3, base_width, 7, stride=2)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU()
        # Inputs are >= 0 after the ReLU: zero padding equals the official -inf padding, and exports.
        self.maxpool = nn.SequentialCell([ZeroBorder(), nn.MaxPool2d(3, 2, pad_mode='valid')])

        channels = base_width
        stages = []
        for index, depth in enumerate(STAGE_DEPTHS):
            width = base_width * 2 ** index
            stride = 1 if index == 0 else 2
            blocks = [Bottleneck(channels, width, stride, zero_init_residual=zero_init_residual)]
            channels = width * EXPANSION
            blocks += [Bottleneck(channels, width, zero_init_residual=zero_init_residual) for _ in range(depth - 1)]
            stages.append(nn.SequentialCell(blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.bam1 = BAM(base_width * EXPANSION, fusion)
        self.bam2 = BAM(base_width * 2 * EXPANSION, fusion)
        self.bam3 = BAM(base_width * 4 * EXPANSION, fusion)
        # The order of the network, written once: construct and spatial_attention_maps both follow it.
        self.attended_stages = ((self.layer1, self.bam1), (self.layer2, self.bam2), (self.layer3, self.bam3))
        self.fc = nn.Dense(channels, num_classes, weight_init=HeNormal(mode='fan_in', nonlinearity='relu'),
                           bias_init='zeros')

    def stem(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def construct(self, x):
        x = self.stem(x)
        for stage, bam in self.attended_stages:
            x = bam(stage(x))
        x = self.layer4(x)
        return self.fc(x.mean(axis=(2, 3)))

    def spatial_attention_maps(self, x):
        """Ms(F) of bam1, bam2 and bam3: each spatial gate's (N, 1, H/4, W/4), (N, 1, H/8, W/8) and
        (N, 1, H/16, W/16) output before fusion and sigmoid, on the features that BAM gets in `construct`;
        for attention-map pictures, not for training."""
        maps = []
        x = self.stem(x)
        for stage, bam in self.attended_stages:
            x = stage(x)
            maps.append(bam.spatial_att(x))
            x = bam(x)
        return maps


def resnet50_bam(num_classes=1000, *, base_width=64, fusion='product', zero_init_residual=False):
    """ResNet50-BAM. `fusion`: 'product' (official code, 77.2% top-1 port) or 'sum' (the paper's equation).
    `base_width` scales every stage (64 is the real model; smaller widths keep depth and structure).
    `zero_init_residual` starts every bottleneck's last BatchNorm scale at zero instead of the official one;
    only the initial weights change, and short runs learn much faster with it."""
    return ResNet50BAM(num_classes=num_classes, base_width=base_width, fusion=fusion,
                       zero_init_residual=zero_init_residual)

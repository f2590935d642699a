"""The authors' ResNets (Jongchan/attention-module, MODELS/model_resnet.py: `ResidualNet(network_type, depth,
num_classes, att_type)`): depth 18 or 34 (basic blocks) or 50 or 101 (bottlenecks), with BAM (bam.py: one module
after each of stages 1, 2 and 3; Park, Woo, Lee, Kweon, BMVC 2018), with CBAM (cbam.py: one inside every block,
after its last BatchNorm and before the shortcut is added; Woo, Park, Lee, Kweon, ECCV 2018) or with neither; and
the ImageNet stem (7x7 stride-2 convolution, 3x3 stride-2 max-pool) or the CIFAR one (3x3 stride-1 convolution, no
max-pool). ResNet-50 with BAM and the ImageNet stem is the default, the authors' released model.

Each network is the authors' model number for number: with the same weights it gives the same logits, and its
parameters carry their names (`bam1.channel_att.gate_c.gate_c_fc_0.weight`, `layer1.0.cbam.ChannelGate.mlp.1.weight`,
`layer1.0.downsample.0.weight`, ...), so their checkpoints map over name by name. Where their code pools with a
fixed window before the classifier (7x7 at 224x224, 4x4 at 32x32), this one takes the global mean, the same
numbers at those sizes, and any input of 32x32 or more. The stem max-pool follows a ReLU, so padding with zeros and
pooling without padding equals their pool that pads with -inf, and exports (to ONNX, for OpenCV's DNN module) as a
plain pool. `base_width` scales every stage (64 is theirs); smaller widths keep the depth and the structure.
"""
import mindspore.nn as nn
from mindspore.common.initializer import HeNormal

from src.models.bam import BAM
from src.models.cbam import CBAM
from src.models.family import DEPTHS, EXPANSION, STEMS, parse_arch, width_step
from src.models.layers import ZeroBorder, conv2d, pytorch_default

STAGE_WIDTHS = (1, 2, 4, 8)  # each stage's width, in multiples of base_width


class BasicBlock(nn.Cell):
    """Two 3x3 convolutions, the first carrying the stride; projection shortcut when the shape changes."""

    def __init__(self, in_channels, width, stride=1, *, cbam=False, zero_init_residual=False):
        super().__init__()
        self.conv1 = conv2d(in_channels, width, 3, stride=stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv2d(width, width, 3)
        # A zero scale makes the block start as its shortcut (Goyal et al. 2017, "Accurate, large minibatch SGD").
        self.bn2 = nn.BatchNorm2d(width, gamma_init='zeros' if zero_init_residual else 'ones')
        self.relu = nn.ReLU()
        self.has_projection = stride != 1 or in_channels != width
        if self.has_projection:
            self.downsample = projection(in_channels, width, stride)
        self.has_cbam = cbam
        if cbam:
            self.cbam = CBAM(width)

    def construct(self, x):
        shortcut = self.downsample(x) if self.has_projection else x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.cbam(out) if self.has_cbam else out
        return self.relu(out + shortcut)


class Bottleneck(nn.Cell):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand; projection shortcut when the shape changes."""

    def __init__(self, in_channels, width, stride=1, *, cbam=False, zero_init_residual=False):
        super().__init__()
        out_channels = width * EXPANSION['bottleneck']
        self.conv1 = conv2d(in_channels, width, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv2d(width, width, 3, stride=stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv2d(width, out_channels, 1)
        self.bn3 = nn.BatchNorm2d(out_channels, gamma_init='zeros' if zero_init_residual else 'ones')
        self.relu = nn.ReLU()
        self.has_projection = stride != 1 or in_channels != out_channels
        if self.has_projection:
            self.downsample = projection(in_channels, out_channels, stride)
        self.has_cbam = cbam
        if cbam:
            self.cbam = CBAM(out_channels)

    def construct(self, x):
        shortcut = self.downsample(x) if self.has_projection else x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = self.cbam(out) if self.has_cbam else out
        return self.relu(out + shortcut)


def projection(in_channels, out_channels, stride):
    """The shortcut of a block that changes the shape: a strided 1x1 convolution (PyTorch's default init, as the
    official code leaves it: its key holds neither 'conv' nor 'bn') and a BatchNorm."""
    return nn.SequentialCell([conv2d(in_channels, out_channels, 1, stride=stride, weight_init=pytorch_default()),
                              nn.BatchNorm2d(out_channels)])


BLOCKS = {'basic': BasicBlock, 'bottleneck': Bottleneck}


class ResNet(nn.Cell):
    """Stem, four stages of blocks (BAM after each of the first three, or CBAM in every block), global average
    pool, classifier. `arch` and `stem` say which of the family it is (see ARCHS and STEMS)."""

    def __init__(self, arch='resnet50_bam', *, stem='imagenet', num_classes=1000, base_width=64, fusion='product',
                 zero_init_residual=False):
        super().__init__()
        depth, attention = parse_arch(arch)
        if stem not in STEMS:
            raise ValueError(f'stem must be one of {", ".join(STEMS)}, got {stem!r}')
        if num_classes < 1:
            raise ValueError(f'num_classes must be at least 1, got {num_classes}')
        if base_width < 1 or base_width % width_step(arch):
            raise ValueError(f'base_width must be a positive multiple of {width_step(arch)} for {arch}, got '
                             f'{base_width}')
        self.arch, self.stem_kind = arch, stem
        kind, depths = DEPTHS[depth]
        block, expansion = BLOCKS[kind], EXPANSION[kind]
        if stem == 'imagenet':
            self.conv1 = conv2d(3, base_width, 7, stride=2)
            # Inputs are >= 0 after the ReLU: zero padding equals the official -inf padding, and exports.
            self.maxpool = nn.SequentialCell([ZeroBorder(), nn.MaxPool2d(3, 2, pad_mode='valid')])
        else:
            self.conv1 = conv2d(3, base_width, 3)
        self.has_maxpool = stem == 'imagenet'
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU()

        channels = base_width
        stages = []
        for index, blocks in enumerate(depths):
            width = base_width * STAGE_WIDTHS[index]
            options = {'cbam': attention == 'cbam', 'zero_init_residual': zero_init_residual}
            stage = [block(channels, width, 1 if index == 0 else 2, **options)]
            channels = width * expansion
            stage += [block(channels, width, **options) for _ in range(blocks - 1)]
            stages.append(nn.SequentialCell(stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.has_bam = attention == 'bam'
        if self.has_bam:
            self.bam1 = BAM(base_width * expansion, fusion)
            self.bam2 = BAM(base_width * 2 * expansion, fusion)
            self.bam3 = BAM(base_width * 4 * expansion, fusion)
        self.fc = nn.Dense(channels, num_classes, weight_init=HeNormal(mode='fan_in', nonlinearity='relu'),
                           bias_init='zeros')

    def stem(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        return self.maxpool(x) if self.has_maxpool else x

    def construct(self, x):
        x = self.stem(x)
        x = self.layer1(x)
        x = self.bam1(x) if self.has_bam else x
        x = self.layer2(x)
        x = self.bam2(x) if self.has_bam else x
        x = self.layer3(x)
        x = self.bam3(x) if self.has_bam else x
        x = self.layer4(x)
        return self.fc(x.mean(axis=(2, 3)))

    def spatial_attention_maps(self, x):
        """The spatial attention of stages 1, 2 and 3 before its sigmoid, for attention-map pictures (not for
        training): with BAM each module's spatial gate, (N, 1, H/4, W/4) ... (N, 1, H/16, W/16) with the ImageNet
        stem, on the features that BAM gets in `construct`; with CBAM the spatial gate of each stage's last block.
        An empty list for a network without attention."""
        if not self.has_bam and not self.layer1[0].has_cbam:
            return []
        maps = []
        x = self.stem(x)
        for index, stage in enumerate((self.layer1, self.layer2, self.layer3)):
            if self.has_bam:
                x = stage(x)
                bam = (self.bam1, self.bam2, self.bam3)[index]
                maps.append(bam.spatial_att(x))
                x = bam(x)
            else:
                for block in stage[:-1]:
                    x = block(x)
                maps.append(_cbam_spatial_map(stage[-1], x))
                x = stage[-1](x)
        return maps


def _cbam_spatial_map(block, x):
    """The spatial gate's map inside `block` (a block with CBAM) for the block's input `x`."""
    out = block.relu(block.bn1(block.conv1(x)))
    if isinstance(block, Bottleneck):
        out = block.relu(block.bn2(block.conv2(out)))
        out = block.bn3(block.conv3(out))
    else:
        out = block.bn2(block.conv2(out))
    return block.cbam.SpatialGate.attention(block.cbam.ChannelGate(out))


def resnet50_bam(num_classes=1000, *, base_width=64, fusion='product', zero_init_residual=False):
    """The authors' released ResNet50-BAM (ImageNet stem). `fusion`: 'product' (their code, 77.2% top-1 port) or
    'sum' (the paper's equation). `zero_init_residual` starts every block's last BatchNorm scale at zero instead of
    the official one; only the initial weights change, and short runs learn much faster with it."""
    return ResNet('resnet50_bam', num_classes=num_classes, base_width=base_width, fusion=fusion,
                  zero_init_residual=zero_init_residual)

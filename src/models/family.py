"""Which networks exist and what each takes, without MindSpore (the settings check them before it loads): the
authors' ResNets of depth 18, 34, 50 and 101, each alone, with BAM or with CBAM, on the ImageNet or the CIFAR stem
(resnet.py builds them)."""
DEPTHS = {18: ('basic', (2, 2, 2, 2)), 34: ('basic', (3, 4, 6, 3)), 50: ('bottleneck', (3, 4, 6, 3)),
          101: ('bottleneck', (3, 4, 23, 3))}  # block kind, blocks per stage
ATTENTIONS = ('', 'bam', 'cbam')
ARCHS = tuple(f'resnet{depth}{"_" + attention if attention else ""}' for depth in DEPTHS for attention in ATTENTIONS)
DEFAULT_ARCH, DEFAULT_STEM = 'resnet50_bam', 'imagenet'
STEMS = ('imagenet', 'cifar')
EXPANSION = {'basic': 1, 'bottleneck': 4}  # a block's output channels, in multiples of its width
REDUCTIONS = {'bam': 16, 'cbam': 16}  # the attention modules' reduction ratio r: their MLPs have C / r units


def parse_arch(arch):
    """(depth, attention) of an architecture name: 'resnet50_bam' -> (50, 'bam'), 'resnet18' -> (18, '')."""
    if arch not in ARCHS:
        raise ValueError(f'arch must be one of {", ".join(ARCHS)}, got {arch!r}')
    depth, _, attention = arch[len('resnet'):].partition('_')
    return int(depth), attention


def width_step(arch):
    """The widths `arch` takes are the multiples of this: an attention module's reduction divides a stage's
    channels (the width times the blocks' expansion) by 16, which must leave a whole number of channels. Basic-block
    networks with attention take multiples of 16, bottleneck ones multiples of 4, plain networks any width."""
    depth, attention = parse_arch(arch)
    if not attention:
        return 1
    return max(1, REDUCTIONS[attention] // EXPANSION[DEPTHS[depth][0]])

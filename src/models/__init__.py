"""The networks: the authors' ResNets (family.py names them, resnet.py builds them) with BAM (bam.py), CBAM
(cbam.py) or neither, built from layers.py; their convolutions on small maps as matrix products for the CPU
(small_map_conv.py); what they cost (cost.py); and create_model, the one way every command, the converter and the
benchmarks build one.
Importing this package does not import MindSpore."""
from src.models.family import DEFAULT_ARCH, DEFAULT_STEM

CLASSIFIER = ('fc.weight', 'fc.bias')  # the parameters of the last layer, which fine-tuning starts afresh


def create_model(*, arch=DEFAULT_ARCH, stem=DEFAULT_STEM, num_classes=1000, base_width=64, fusion='product',
                 zero_init_residual=False, small_map_convs=False):
    """One of the authors' ResNets (family.py: `arch` and `stem`; resnet.py for the other arguments);
    `small_map_convs`: its convolutions on small maps computed as matrix products (small_map_conv.py), for the CPU;
    the parameters are the same either way."""
    from src.models.resnet import ResNet
    from src.models.small_map_conv import use_small_map_convs

    net = ResNet(arch, stem=stem, num_classes=num_classes, base_width=base_width, fusion=fusion,
                 zero_init_residual=zero_init_residual)
    if small_map_convs:
        use_small_map_convs(net)
    return net


def model_options(cfg, device_target):
    """create_model's arguments from a command's settings (arch, stem, num_classes, base_width, bam_fusion,
    cpu_fast_conv and, for training, zero_init_residual) on `device_target`, the device the command runs on."""
    return {'arch': cfg.arch, 'stem': cfg.stem, 'num_classes': cfg.num_classes, 'base_width': cfg.base_width,
            'fusion': cfg.bam_fusion, 'zero_init_residual': cfg.get('zero_init_residual', False),
            'small_map_convs': device_target == 'CPU' and cfg.cpu_fast_conv}

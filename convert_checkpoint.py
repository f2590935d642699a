"""Convert a PyTorch checkpoint of the authors' family (their released ResNet50+BAM and ResNet50+CBAM, or any of
their ResNets with BAM, CBAM or neither) into a checkpoint of this repository's network, and check the conversion
before writing it.

  python convert_checkpoint.py --torch_checkpoint RESNET50_IMAGENET_BAM_best.pth.tar --output resnet50_bam_imagenet.ckpt

Takes the file as the authors released it (PyTorch 0.4's legacy format, {'epoch', 'arch', 'state_dict',
'best_prec1', 'optimizer'}, keys prefixed 'module.'), a file in today's zip format, a bare state dict, or keys
without 'module.'. Which network the file holds (--arch, --stem, the width) is told from its keys and shapes;
--arch and --stem, when given, must agree. Before anything is written, the authors' model
(src/convert/official_resnet_torch.py) loaded from the file and the converted MindSpore network classify the same
random images (224x224 after the ImageNet stem, 32x32 after the CIFAR one) in inference mode: the largest logit
difference is printed, and the checkpoint is written only if it is within 1e-4 of the largest logit (an existing
file only with --overwrite true, never the input itself). The output records its network and holds its weights and
BatchNorm statistics, for eval.py, export.py, predict.py, attention_map.py and train.py --pre_trained true, with the
--arch, --stem and --num_classes it prints (1000 classes for the releases) and the default --bam_fusion product,
which the authors trained with.

Needs PyTorch (the CPU build is enough), which nothing else in the repository needs at run time.
"""
from src.utils.interrupts import answer_signals_if_main, report_kept

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import argparse
import os

import numpy as np

from src.config import defaults
from src.utils.errors import OneLineParser, UsageError, run_main
from src.utils.files import check_name_fits, check_not_an_input, check_output_dir, hold_output_file
from src.convert.official_weights import (check_official_state_dict, import_torch, network_with, non_finite_entries,
                                          official_architecture, official_to_mindspore, read_official_state_dict,
                                          torch_file_format)
from src.models.family import ARCHS, STEMS

CHECK_IMAGES = 3
TOLERANCE = 1e-4  # largest logit difference over the largest |logit|
CHECKPOINT_SUFFIX = '.ckpt'


def parse_args():
    # Its own options, not the shared settings: a one-off conversion of the authors' file, which no recipe repeats.
    parser = OneLineParser(description=__doc__.split('\n\n', 1)[0],
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--torch_checkpoint', required=True,
                        help='the authors\' PyTorch file (RESNET50_IMAGENET_BAM_best.pth.tar) or a state dict')
    parser.add_argument('--output', required=True, help='MindSpore checkpoint to write (.ckpt is added if missing)')
    parser.add_argument('--arch', choices=ARCHS,
                        help='the network the file should hold (told from the file if not given)')
    parser.add_argument('--stem', choices=STEMS, help='its stem (told from the file if not given)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random images of the check')
    parser.add_argument('--overwrite', choices=('true', 'false'), default='false',
                        help='replace an existing --output file')
    return parser.parse_args()


def output_path(path):
    """--output as an absolute .ckpt path in a folder that accepts files; checked before the long work."""
    if os.path.isdir(path):
        raise UsageError(f'--output {path} is a folder; name the checkpoint file to write')
    path = os.path.abspath(path if path.endswith(CHECKPOINT_SUFFIX) else path + CHECKPOINT_SUFFIX)
    if os.path.isdir(path):
        raise UsageError(f'--output {path} is a folder; name the checkpoint file to write')
    check_output_dir(os.path.dirname(path), '--output\'s folder')
    check_name_fits(path, '--output')
    return path


def official_model_with(state, arch, stem, width, num_classes):
    """The authors' model `arch` in PyTorch with `state` loaded, in inference mode."""
    from src.convert.official_resnet_torch import official_model

    model = official_model(arch, stem, num_classes, width)
    model.load_state_dict(state, strict=False)  # strict except for num_batches_tracked, checked beforehand
    return model.eval()


def compare_logits(official, net, seed, size):
    """(largest absolute, relative) logit difference of the two networks on CHECK_IMAGES random images of
    size x size."""
    torch = import_torch()
    from src.deploy.inference import largest_difference, logits

    images = np.random.default_rng(seed).standard_normal((CHECK_IMAGES, 3, size, size), dtype=np.float32)
    with torch.no_grad():
        expected = official(torch.from_numpy(images)).numpy()
    got = logits(net, images)
    if not np.isfinite(expected).all():
        raise UsageError('the weights give non-finite logits in the authors\' own model: the file is damaged')
    return largest_difference(got, expected)


def describe(content, path, state):
    """One line on what the file holds."""
    parts = [f'PyTorch {torch_file_format(path)} format, {os.path.getsize(path) / 2 ** 20:.1f} MiB']
    if isinstance(content, dict) and 'state_dict' in content:
        for key in ('epoch', 'arch', 'best_prec1'):
            value = content.get(key)
            value = value.item() if hasattr(value, 'item') else value  # best_prec1 may be a tensor
            if value is not None:
                parts.append(f'{key} {value:.6g}' if isinstance(value, float) else f'{key} {value}')
    parts.append(f'{len(state)} state-dict entries')
    return ', '.join(parts)


def main():
    args = parse_args()
    output = output_path(args.output)
    check_not_an_input(output, {'--torch_checkpoint': args.torch_checkpoint}, '--output')
    hold_output_file(output, '--output', args.overwrite == 'true')
    report_kept(lambda: f'{output} was not written')
    content, state = read_official_state_dict(args.torch_checkpoint)
    print(f'read {args.torch_checkpoint}: {describe(content, args.torch_checkpoint, state)}', flush=True)
    arch, stem, width = official_architecture(state, args.torch_checkpoint)
    from src.convert.official_resnet_torch import CHECK_SIZE, official_model  # PyTorch is there: the file was read
    for option, given, found in (('--arch', args.arch, arch), ('--stem', args.stem, stem)):
        if given and given != found:
            raise UsageError(f'{option} {given}, but {args.torch_checkpoint} holds {arch} with the {stem} stem; pass '
                             f'{option} {found} or leave it out')
    num_classes = check_official_state_dict(state, official_model(arch, stem, 1, width).state_dict(),
                                            args.torch_checkpoint, arch)
    arrays = official_to_mindspore({name: value.float().numpy() for name, value in state.items()})
    damaged = non_finite_entries(arrays)
    if damaged:
        raise UsageError(f'{args.torch_checkpoint}: {len(damaged)} entries hold NaN or infinite values '
                         f'({", ".join(damaged[:3])}); the file is damaged')

    from src.utils.device import setup_device
    cfg = defaults()
    cfg.device_target = 'CPU'
    setup_device(cfg)
    net = network_with(arrays, arch, stem, width, num_classes)
    size = CHECK_SIZE[stem]
    print(f'checking: the authors\' PyTorch {arch} ({stem} stem, width {width}) and the converted MindSpore network '
          f'({num_classes} classes) on {CHECK_IMAGES} random {size}x{size} images, inference mode', flush=True)
    largest, relative = compare_logits(official_model_with(state, arch, stem, width, num_classes), net, args.seed,
                                       size)
    print(f'  max |logit difference| {largest:.3g}, {relative:.3g} of the largest logit (tolerance {TOLERANCE:g})')
    if not relative <= TOLERANCE:
        raise UsageError(f'the converted network differs from the authors\' model by {relative:.3g} of the largest '
                         f'logit (tolerance {TOLERANCE:g}); {output} was not written')

    from src.engine.checkpoint import architecture, save_atomically
    save_atomically(net, output, architecture(net))
    width_option = f' --base_width {width}' if width != 64 else ''
    print(f'wrote {output}: use it with --arch {arch} --stem {stem} --num_classes {num_classes}{width_option} (and '
          f'the default --bam_fusion product)')


if __name__ == '__main__':
    run_main(main)

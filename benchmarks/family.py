"""The authors' whole family at full width, each network against their code: for every --arch (ResNet-18, 34, 50 and
101, alone, with BAM or with CBAM) and --stem (imagenet at 224x224, cifar at 32x32), this repository's network and a
transcription of theirs (src/convert/official_resnet_torch.py) loaded with the same random weights and BatchNorm
statistics: trainable parameters of each, multiply-adds of one image (src/models/cost.py), and the largest logit
difference over the largest logit on two random images, inference mode, MindSpore in graph mode as every command
runs it. The papers' ImageNet figures stand beside the ImageNet-stem rows. Exit status 1 if a network differs in a
parameter count or by more than 1e-4.

    python -m benchmarks.family [--width 64] [--num_classes 1000] [--arch A ...] [--stem S ...]
                                [--output output/family.json]

Needs PyTorch (requirements-test.txt); about 10 minutes for all 24 networks on two cores.
"""
import argparse
import os
import time

import numpy as np

from src.models.family import ARCHS, STEMS
from src.utils.files import write_json

TOLERANCE = 1e-4
IMAGES = 2
# (millions of parameters, GFLOPs as the papers count them: multiply-adds of the convolutions and dense layers) of
# the ImageNet networks, 1000 classes: ResNets and CBAM from the CBAM paper's ImageNet table (Woo et al., ECCV 2018),
# BAM from the BAM paper's (Park et al., BMVC 2018), which has no ResNet-34.
PAPER = {
    'resnet18': (11.69, 1.814), 'resnet18_bam': (11.71, 1.82), 'resnet18_cbam': (11.78, 1.815),
    'resnet34': (21.80, 3.664), 'resnet34_cbam': (21.96, 3.665),
    'resnet50': (25.56, 3.858), 'resnet50_bam': (25.92, 3.94), 'resnet50_cbam': (28.09, 3.864),
    'resnet101': (44.55, 7.570), 'resnet101_bam': (44.91, 7.65), 'resnet101_cbam': (49.33, 7.581),
}


def progress(message):
    print(f'[family] {message}', flush=True)


def compare(arch, stem, width, num_classes, seed=0):
    """One row: this repository's network and the authors' with the same weights."""
    import torch
    from src.convert.official_resnet_torch import CHECK_SIZE, official_model, with_random_state
    from src.convert.official_weights import network_with, official_to_mindspore
    from src.deploy.inference import largest_difference, logits
    from src.models.cost import multiply_adds, parameter_count

    torch.manual_seed(seed)
    official = with_random_state(official_model(arch, stem, num_classes, width), seed + 1)
    converted = official_to_mindspore({name: value.numpy() for name, value in official.state_dict().items()})
    ours = network_with(converted, arch, stem, width, num_classes)
    size = CHECK_SIZE[stem]
    images = np.random.default_rng(seed).standard_normal((IMAGES, 3, size, size), dtype=np.float32)
    with torch.no_grad():
        expected = official(torch.from_numpy(images)).numpy()
    _, relative = largest_difference(logits(ours, images), expected)
    return {'arch': arch, 'stem': stem, 'image_size': size,
            'parameters': parameter_count(ours),
            'parameters_theirs': sum(param.numel() for param in official.parameters() if param.requires_grad),
            'multiply_adds': multiply_adds(ours, size, size),
            'relative_logit_difference': relative}


def table(rows, papers=True):
    """The rows as a Markdown table, with the papers' figures beside the ImageNet stem if `papers`."""
    lines = ['| network | stem, input | parameters | multiply-adds | paper: parameters, GFLOPs | logit difference |',
             '| --- | --- | ---: | ---: | --- | ---: |']
    for row in rows:
        paper = PAPER.get(row['arch']) if papers and row['stem'] == 'imagenet' else None
        lines.append(f"| {row['arch']} | {row['stem']}, {row['image_size']}x{row['image_size']} | "
                     f"{row['parameters'] / 1e6:.2f} M | {row['multiply_adds'] / 1e9:.3f} G | "
                     f"{f'{paper[0]:.2f} M, {paper[1]:g}' if paper else '-'} | "
                     f"{row['relative_logit_difference']:.1e} |")
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--width', type=int, default=64, help='channels of the first stage (64: the papers\' networks)')
    parser.add_argument('--num_classes', type=int, default=1000)
    parser.add_argument('--arch', nargs='+', choices=ARCHS, default=ARCHS)
    parser.add_argument('--stem', nargs='+', choices=STEMS, default=STEMS)
    parser.add_argument('--output', default=os.path.join('output', 'family.json'), help='JSON result file')
    return parser.parse_args()


def main():
    args = parse_args()
    from src.config import defaults
    from src.utils.device import setup_device

    cfg = defaults()
    cfg.device_target = 'CPU'
    setup_device(cfg)
    rows = []
    for stem in args.stem:
        for arch in args.arch:
            start = time.perf_counter()
            rows.append(compare(arch, stem, args.width, args.num_classes))
            row = rows[-1]
            progress(f"{arch} {stem}: {row['parameters']:,} parameters (theirs {row['parameters_theirs']:,}), "
                     f"{row['multiply_adds']:,} multiply-adds, logits within {row['relative_logit_difference']:.1e} "
                     f"({time.perf_counter() - start:.0f} s)")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    write_json(args.output, {'width': args.width, 'num_classes': args.num_classes, 'tolerance': TOLERANCE,
                             'networks': rows})
    print(table(rows, papers=(args.width, args.num_classes) == (64, 1000)))
    differing = [f"{row['arch']} ({row['stem']})" for row in rows
                 if row['parameters'] != row['parameters_theirs'] or not row['relative_logit_difference'] <= TOLERANCE]
    if differing:
        print(f'differs from the authors\' model: {", ".join(differing)}')
        return 1
    print(f'all {len(rows)} networks equal the authors\' (parameters, and logits within {TOLERANCE:g}); '
          f'written {args.output}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())

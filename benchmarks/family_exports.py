"""Every network of the family exported and deployed: for each --arch and --stem, the network at --width with
random weights, exported to MINDIR and ONNX with a dynamic and with a fixed batch, each file checked as export.py
checks it (src/deploy/export.py: MindSpore or ONNX Runtime against the network at several batches); then the C++
app (ascend310_infer, its CPU backend: OpenCV DNN) runs the dynamic ONNX file on real images, and its logits are
compared with MindSpore's on the app's own preprocessed inputs (the largest difference over the largest logit).

    python -m benchmarks.family_exports --images DIR [--width 16] [--arch A ...] [--stem S ...]
                                        [--output_dir output/family_exports]

DIR: a folder of images (class folders too), e.g. the demo's val set. The app must be built first
(bash ascend310_infer/build.sh). ImageNet-stem networks take 224x224 inputs, CIFAR-stem ones 32x32. Exit status 1
if an export fails its check or the app disagrees.
"""
import argparse
import io
import os
import subprocess
from contextlib import redirect_stdout

import numpy as np
from easydict import EasyDict

from src.models.family import ARCHS, STEMS
from src.utils.files import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(REPO, 'ascend310_infer', 'out', 'resnet50_bam_infer')
SIZE = {'imagenet': 224, 'cifar': 32}
FIXED_BATCH = 2
APP_TOLERANCE = 1e-4


def progress(message):
    print(f'[family_exports] {message}', flush=True)


def export_all(net, size, folder):
    """{file name: 'checked'} for MINDIR and ONNX, dynamic and fixed batch, each checked before it is kept;
    raises ExportCheckFailed on a file that fails."""
    from src.deploy.export import EXTENSIONS, export_and_check

    written = {}
    for file_format in ('MINDIR', 'ONNX'):
        for dynamic in (True, False):
            cfg = EasyDict(file_format=file_format, dynamic_batch=dynamic, batch_size=1 if dynamic else FIXED_BATCH,
                           image_height=size, image_width=size, seed=0)
            name = f"{'dynamic' if dynamic else f'batch{FIXED_BATCH}'}{EXTENSIONS[file_format]}"
            with redirect_stdout(io.StringIO()):  # export.py's check lines, one per batch
                export_and_check(net, cfg, os.path.join(folder, name))
            written[name] = 'checked'
    return written


def app_difference(net, onnx_path, images, size, folder):
    """The C++ app on `onnx_path` over `images`: the largest difference of its logits from MindSpore's on the inputs
    the app preprocessed, over the largest logit."""
    from src.data.dataset import eval_resize_size
    from src.deploy.inference import largest_difference, logits

    result = subprocess.run([APP, f'--model_path={onnx_path}', f'--dataset_path={images}', f'--height={size}',
                             f'--width={size}', f'--resize={eval_resize_size(size, size)}', f'--output_dir={folder}',
                             '--dump_input'], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f'the app failed on {onnx_path}: {result.stderr.strip()}')
    names = sorted(name[:-len('.bin')] for name in os.listdir(os.path.join(folder, 'input_Files')))
    inputs = np.stack([np.fromfile(os.path.join(folder, 'input_Files', f'{name}.bin'), dtype=np.float32)
                       for name in names]).reshape(len(names), 3, size, size)
    got = np.stack([np.fromfile(os.path.join(folder, 'result_Files', f'{name}_0.bin'), dtype=np.float32)
                    for name in names])
    return len(names), largest_difference(got, logits(net, inputs))[1]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--images', required=True, help='images for the C++ app, e.g. the demo\'s val set')
    parser.add_argument('--width', type=int, default=16, help='channels of the first stage')
    parser.add_argument('--num_classes', type=int, default=10)
    parser.add_argument('--arch', nargs='+', choices=ARCHS, default=ARCHS)
    parser.add_argument('--stem', nargs='+', choices=STEMS, default=STEMS)
    parser.add_argument('--output_dir', default=os.path.join('output', 'family_exports'))
    return parser.parse_args()


def main():
    args = parse_args()
    if not os.access(APP, os.X_OK):
        raise SystemExit(f'{APP} is not built: run bash ascend310_infer/build.sh first')
    import mindspore as ms
    from src.config import defaults
    from src.deploy.export import ExportCheckFailed
    from src.models import create_model
    from src.utils.device import setup_device

    cfg = defaults()
    cfg.device_target = 'CPU'
    setup_device(cfg)
    rows, failed = [], []
    for stem in args.stem:
        for arch in args.arch:
            folder = os.path.join(args.output_dir, f'{arch}_{stem}')
            os.makedirs(folder, exist_ok=True)
            ms.set_seed(0)
            net = create_model(arch=arch, stem=stem, num_classes=args.num_classes, base_width=args.width)
            net.set_train(False)
            size = SIZE[stem]
            try:
                files = export_all(net, size, folder)
                images, difference = app_difference(net, os.path.join(folder, 'dynamic.onnx'), args.images, size,
                                                    os.path.join(folder, 'app'))
            except (ExportCheckFailed, RuntimeError) as error:
                failed.append(f'{arch} ({stem}): {error}')
                progress(failed[-1])
                continue
            rows.append({'arch': arch, 'stem': stem, 'image_size': size, 'exports': files, 'app_images': images,
                         'app_relative_logit_difference': difference})
            progress(f'{arch} {stem} ({size}x{size}): {", ".join(files)} checked; the app on dynamic.onnx, '
                     f'{images} images: logits within {difference:.1e} of MindSpore\'s')
            if not difference <= APP_TOLERANCE:
                failed.append(f'{arch} ({stem}): the app differs by {difference:.3g}')
    write_json(os.path.join(args.output_dir, 'family_exports.json'),
               {'width': args.width, 'num_classes': args.num_classes, 'networks': rows, 'failed': failed})
    if failed:
        print(f'{len(failed)} of {len(args.arch) * len(args.stem)} networks failed: {"; ".join(failed)}')
        return 1
    print(f'all {len(rows)} networks: 4 exports each checked, the app within {APP_TOLERANCE:g} of MindSpore')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())

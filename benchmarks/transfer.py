"""Transfer on real data without ImageNet: does a checkpoint trained on some classes help to learn others from a few
images? Five Fashion-MNIST classes (T-shirt/top, Trouser, Pullover, Dress, Coat) train the source checkpoint; the
other five (Sandal, Shirt, Sneaker, Bag, Ankle boot) are learnt from a few images per class, three ways with the
same recipe: from scratch, and fine-tuning every layer of the source checkpoint with a fresh classifier; and by
linear probing (only a fresh classifier learns on the frozen source network), at the larger learning rate a lone
classifier takes.

    python -m benchmarks.transfer [--target_per_class 20] [--target_epochs 2] [--output_dir output/transfer]

Every step is a real command of the repository (src.data.demo_data, train.py) run in a subprocess; each run's log and
results stay in OUTPUT_DIR/<run>/. Prints a table and writes OUTPUT_DIR/transfer.json with every run's per-epoch
validation accuracy and time.
"""
import argparse
import csv
import os
import subprocess
import sys
import time

from src.utils.files import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_CLASSES, TARGET_CLASSES = '0-4', '5-9'
# The demo recipe (docs/training.md, "The demo run"): whole 32x32 images, zero-initialised residual branches.
DEMO_RECIPE = ('--num_classes', '5', '--image_height', '32', '--image_width', '32', '--crop_pct', '1',
               '--crop_min_scale', '1', '--color_jitter', '0', '--zero_init_residual', 'true')
TARGET_RUNS = {
    'from scratch': (),
    'fine-tuned': ('--pre_trained', 'true', '--reset_classifier', 'true'),
    'linear probe': ('--pre_trained', 'true', '--reset_classifier', 'true', '--linear_probe', 'true'),
}


def run(command, log_path):
    """Run a repository command, its output kept in log_path; stops the experiment if it fails."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    print(f'$ {" ".join(command)}', flush=True)
    started = time.time()
    with open(log_path, 'w', encoding='utf-8') as log:
        status = subprocess.call([sys.executable, *command], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    if status:
        sys.exit(f'transfer: the command failed with exit status {status}; see {log_path}')
    return time.time() - started


def make_demo_set(folder, *, classes, per_class, val_per_class, seed):
    if not os.path.isdir(os.path.join(folder, 'train')):
        run(['-m', 'src.data.demo_data', '--output_dir', folder, '--classes', classes, '--train_per_class', str(per_class),
             '--val_per_class', str(val_per_class), '--seed', str(seed)], os.path.join(folder, 'build.log'))
    return folder


def train(name, data, output_dir, args, *extra):
    """Train on a demo set with validation after every epoch; returns the per-epoch rows of epochs.csv."""
    seconds = run(['train.py', '--data_path', os.path.join(data, 'train'),
                   '--val_data_path', os.path.join(data, 'val'), '--run_eval', 'true', '--output_dir', output_dir,
                   '--base_width', str(args.base_width), '--device_target', 'CPU', *DEMO_RECIPE, *extra],
                  os.path.join(output_dir, 'train.log'))
    with open(os.path.join(output_dir, 'epochs.csv'), encoding='utf-8') as handle:
        epochs = [{key: float(value) for key, value in row.items() if value} for row in csv.DictReader(handle)]
    by_epoch = ', '.join(f'{row["top1"]:.3f}' for row in epochs)
    print(f'  {name}: val top-1 by epoch {by_epoch} ({seconds:.0f} s)', flush=True)
    return {'epochs': epochs, 'seconds': round(seconds, 1), 'top1': epochs[-1]['top1']}


def main():
    parser = argparse.ArgumentParser(prog='python -m benchmarks.transfer', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--output_dir', default='output/transfer', help='data, runs and transfer.json go here')
    parser.add_argument('--base_width', type=int, default=64, help='network width (64 is ResNet-50)')
    parser.add_argument('--source_per_class', type=int, default=1000, help='training images per source class')
    parser.add_argument('--source_epochs', type=int, default=4, help='epochs of the source run')
    parser.add_argument('--target_per_class', type=int, default=20, help='training images per target class')
    parser.add_argument('--target_epochs', type=int, default=2, help='epochs of each target run')
    parser.add_argument('--target_batch_size', type=int, default=16, help='batch of the target runs')
    parser.add_argument('--target_lr', type=float, default=0.01, help='peak learning rate from scratch and fine-tuned')
    parser.add_argument('--probe_lr', type=float, default=0.1, help='peak learning rate of the linear probe')
    parser.add_argument('--val_per_class', type=int, default=100, help='validation images per class')
    args = parser.parse_args()
    root = os.path.abspath(args.output_dir)

    source = make_demo_set(os.path.join(root, 'source_data'), classes=SOURCE_CLASSES,
                           per_class=args.source_per_class, val_per_class=args.val_per_class, seed=1)
    target = make_demo_set(os.path.join(root, 'target_data'), classes=TARGET_CLASSES,
                           per_class=args.target_per_class, val_per_class=args.val_per_class, seed=2)
    source_dir = os.path.join(root, 'source')
    results = {'source': train('source checkpoint', source, source_dir, args, '--epoch_size', str(args.source_epochs),
                               '--lr_init', '0.02', '--warmup_epochs', '1', '--batch_size', '64')}
    checkpoint = os.path.join(source_dir, 'train_resnet50_bam_imagenet_best.ckpt')
    for name, options in TARGET_RUNS.items():
        pretrained = ('--checkpoint_path', checkpoint) if options else ()
        lr = args.probe_lr if '--linear_probe' in options else args.target_lr
        results[name] = train(name, target, os.path.join(root, name.replace(' ', '_')), args, *options, *pretrained,
                              '--epoch_size', str(args.target_epochs), '--lr_init', str(lr),
                              '--batch_size', str(args.target_batch_size))

    print(f'\n{args.target_per_class} images per target class, {args.target_epochs} epochs, '
          f'{args.val_per_class} val images per class (chance: 0.200)')
    for name in TARGET_RUNS:
        print(f'  {name:<14} top-1 {results[name]["top1"]:.3f}')
    summary = dict(vars(args), source_classes=SOURCE_CLASSES, target_classes=TARGET_CLASSES, runs=results)
    write_json(os.path.join(root, 'transfer.json'), summary)
    print(f'wrote {os.path.join(root, "transfer.json")}')


if __name__ == '__main__':
    main()

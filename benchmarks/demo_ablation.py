"""What the attention modules add on the demo set: train.py with one recipe (the demo's by default: 4 epochs on the
CPU) for each network and seed, then the mean and spread over the seeds of the last epoch's validation top-1, and the
training time per epoch (the median over epochs 2 to the last: the first also compiles).

    python -m benchmarks.demo_ablation --data_dir data/fashion_demo [--arch resnet18 resnet18_bam ...] [--seeds 1 2 3]
                                       [--config configs/demo.yaml] [--output_dir output/ablation] [-- train.py options]

Each run has its own folder (OUTPUT_DIR/<arch>_seed<seed>); a run that finished is read, not repeated, so an
interrupted ablation continues where it stopped. Writes OUTPUT_DIR/ablation.json and prints a Markdown table.
Run it on an otherwise idle machine: the times are part of the result.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys

from src.utils.files import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = ('resnet18', 'resnet18_bam', 'resnet18_cbam', 'resnet50', 'resnet50_bam', 'resnet50_cbam')


def progress(message):
    print(f'[demo_ablation] {message}', flush=True)


def finished_epochs(output_dir):
    """The rows of a run's epochs.csv, or [] if it has none."""
    path = os.path.join(output_dir, 'epochs.csv')
    if not os.path.isfile(path):
        return []
    with open(path, encoding='utf-8') as handle:
        return list(csv.DictReader(handle))


def run(arch, seed, args, extra):
    """The epochs.csv rows of one finished run, training it first unless an earlier ablation did."""
    output_dir = os.path.join(args.output_dir, f'{arch}_seed{seed}')
    command = [sys.executable, os.path.join(REPO, 'train.py'), '--config', args.config, '--arch', arch,
               '--seed', str(seed), '--data_path', os.path.join(args.data_dir, 'train'),
               '--val_data_path', os.path.join(args.data_dir, 'val'), '--run_eval', 'true',
               '--output_dir', output_dir, *extra]
    rows = finished_epochs(output_dir)
    if rows and _complete(rows, command):
        progress(f'{arch} seed {seed}: read from {output_dir}')
        return rows
    progress(f'{arch} seed {seed}: {" ".join(command[1:])}')
    if rows:
        command += ['--overwrite', 'true']  # an interrupted run of this ablation: start it again
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return finished_epochs(output_dir)


def _complete(rows, command):
    from src.config import parse_config
    cfg = parse_config('train.py', command[2:], command='train')
    return len(rows) == cfg.epoch_size


def summary(arch, runs):
    """Mean and spread of the last epoch's top-1, and the median training seconds per epoch after the first."""
    top1 = [float(rows[-1]['top1']) for rows in runs]
    seconds = [float(row['epoch_seconds']) for rows in runs for row in rows[1:]]
    return {'arch': arch, 'top1': top1, 'top1_mean': statistics.mean(top1),
            'top1_stdev': statistics.stdev(top1) if len(top1) > 1 else 0.0,
            'epoch_seconds_median': statistics.median(seconds) if seconds else None}


def table(results):
    lines = ['| network | top-1 mean | spread (stdev) | runs | seconds per epoch |',
             '| --- | ---: | ---: | --- | ---: |']
    for row in results:
        runs = ', '.join(f'{value * 100:.1f}' for value in row['top1'])
        lines.append(f"| {row['arch']} | {row['top1_mean'] * 100:.2f} % | {row['top1_stdev'] * 100:.2f} | {runs} | "
                     f"{row['epoch_seconds_median']:.0f} |")
    return '\n'.join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--data_dir', required=True, help='a demo set (python -m src.data.demo_data): train/ and val/')
    parser.add_argument('--arch', nargs='+', default=list(ARCHS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[1, 2, 3])
    parser.add_argument('--config', default=os.path.join(REPO, 'configs', 'demo.yaml'), help='the recipe')
    parser.add_argument('--output_dir', default=os.path.join('output', 'ablation'))
    return parser.parse_args(argv)


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index('--') + 1:] if '--' in argv else []
    args = parse_args(argv[:argv.index('--')] if '--' in argv else argv)
    results = [summary(arch, [run(arch, seed, args, extra) for seed in args.seeds]) for arch in args.arch]
    write_json(os.path.join(args.output_dir, 'ablation.json'),
               {'config': args.config, 'seeds': args.seeds, 'train_options': extra, 'networks': results})
    print(table(results))


if __name__ == '__main__':
    main()

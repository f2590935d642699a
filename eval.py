"""Evaluate ResNet50-BAM checkpoints: top-1/top-5 over every image of a validation folder, for one checkpoint
or each checkpoint of a folder in epoch order.

  python eval.py --checkpoint_path OUTPUT_DIR/ckpt --val_data_path VAL_DIR [--num_classes N ...]
Prints a line per checkpoint (and, on long scoring, a progress line every 10 s on stderr) and writes
OUTPUT_DIR/eval_results.csv (one row per checkpoint). A checkpoint that cannot be read or does not fit the network
is reported and skipped; the exit status is then 2. An OUTPUT_DIR holding an earlier evaluation's results is
refused unless --overwrite true.
"""
from src.utils.interrupts import answer_signals_if_main, report_kept

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import csv
import io
import os
import sys
import time

from src.config import command_settings, parse_config, save_config
from src.utils.errors import UsageError, run_main
from src.utils.files import check_output_dir, claim_output_dir, write_text_atomically

RESULT_FIELDS = ('checkpoint', 'top1', 'top5', 'images', 'seconds', 'error')
RESULTS_FILE, CONFIG_FILE = 'eval_results.csv', 'eval_config.json'


def main():
    cfg = parse_config(__doc__, command='eval')
    from src.engine.checkpoint import checkpoint_files
    checkpoints = checkpoint_files(cfg.checkpoint_path)
    check_output_dir(cfg.output_dir, '--output_dir')  # before the scoring whose results would be lost
    claim_output_dir(cfg.output_dir, 'eval', results=(RESULTS_FILE,), overwrite=cfg.overwrite)
    rows = []
    report_kept(lambda: f'{len(rows)} of {len(checkpoints)} checkpoints scored (above); {RESULTS_FILE} not written')

    from src.utils.device import setup_device
    device = setup_device(cfg)
    if device.is_main:
        save_config(command_settings(cfg), cfg.output_dir, CONFIG_FILE)

    from src.data.dataset import create_dataset
    from src.engine.checkpoint import load_weights
    from src.engine.validation import NonFiniteLogitsError, evaluate
    from src.models import create_model, model_options
    from src.utils.progress import Progress

    val_set = create_dataset(cfg.val_data_path, training=False, batch_size=cfg.batch_size,
                             image_height=cfg.image_height, image_width=cfg.image_width,
                             num_parallel_workers=cfg.num_parallel_workers, num_shards=device.group_size,
                             shard_id=device.rank, num_classes=cfg.num_classes, crop_pct=cfg.crop_pct,
                             eval_resize=cfg.eval_resize)
    net = create_model(**model_options(cfg, device.target))
    for path in checkpoints:
        started = time.time()
        try:
            load_weights(net, path)
            result = evaluate(net, val_set.dataset, device.group_size,
                              Progress(val_set.shard_images, f'scoring {os.path.basename(path)}'))
        except (UsageError, NonFiniteLogitsError) as error:
            if len(checkpoints) == 1:
                raise UsageError(f'{path}: {error}' if isinstance(error, NonFiniteLogitsError) else str(error)) \
                    from error
            rows.append({'checkpoint': path, 'error': str(error)})
            print(f'{path}: skipped: {error}', file=sys.stderr, flush=True)
            continue
        rows.append(dict(result, checkpoint=path, seconds=round(time.time() - started, 2)))
        if device.is_main:
            print(f"{path}: top1 {result['top1']:.4f} top5 {result['top5']:.4f} "
                  f"({result['images']} images, {rows[-1]['seconds']} s)", flush=True)

    if device.is_main:
        results_path = os.path.join(cfg.output_dir, RESULTS_FILE)
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=RESULT_FIELDS, lineterminator='\n')
        writer.writeheader()
        writer.writerows(rows)
        try:
            write_text_atomically(results_path, table.getvalue())
        except UsageError as error:
            raise UsageError(f'{error}; the scores are printed above') from error
        scored = [row for row in rows if 'top1' in row]
        if scored:
            best = max(scored, key=lambda row: row['top1'])
            print(f"best: {best['checkpoint']} top1 {best['top1']:.4f} top5 {best['top5']:.4f}; "
                  f'results in {results_path}')
    failed = len(rows) - len([row for row in rows if 'top1' in row])
    if failed:
        raise UsageError(f'{failed} of {len(rows)} checkpoints could not be evaluated (see above)')


if __name__ == '__main__':
    run_main(main)

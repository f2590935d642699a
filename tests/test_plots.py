"""Training curves: drawn by train.py at the end of a run and by `python -m src.engine.plots` on demand, for resumed
runs and runs without validation; missing files are one-line errors, and a failure never fails training."""
import csv
import math

import numpy as np
from PIL import Image

from conftest import one_line_error, run_script
from src.engine.monitor import EPOCH_FIELDS, STEP_FIELDS
from src.engine.plots import CURVES_FILE, FIGURE_PIXELS, draw_after_training, read_run_metrics

STEPS_PER_EPOCH = 10


def write_csv(path, fields, rows):
    with open(path, 'w', newline='', encoding='utf-8') as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:  # the columns after the given values are not drawn
            writer.writerow(dict(zip(fields, (*row, *[1] * (len(fields) - len(row))))))


def step_row(global_step, loss):
    epoch = (global_step - 1) // STEPS_PER_EPOCH + 1
    return epoch, global_step - (epoch - 1) * STEPS_PER_EPOCH, global_step, loss, 0.01 * global_step


def write_run(folder, steps, epochs):
    write_csv(folder / 'train_steps.csv', STEP_FIELDS, steps)
    write_csv(folder / 'epochs.csv', EPOCH_FIELDS, epochs)


def draw(folder):
    result = run_script('-m', 'src.engine.plots', '--output_dir', str(folder), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f'training curves: {folder / CURVES_FILE}'
    with Image.open(folder / CURVES_FILE) as png:
        assert png.size == FIGURE_PIXELS


def test_train_py_draws_the_curves_when_it_finishes(trained_run):
    output_dir, result = trained_run
    assert f'training curves: {output_dir / CURVES_FILE}' in result.stdout
    assert 'warning' not in result.stderr
    with Image.open(output_dir / CURVES_FILE) as png:
        assert png.size == FIGURE_PIXELS


def test_a_resumed_run_keeps_the_last_value_of_each_step_and_epoch(tmp_path):
    # Killed in epoch 3 with a checkpoint after epoch 1: the resumed run redoes steps 11-25 and epoch 2.
    first = [step_row(step, 3.0) for step in (5, 10, 15, 20, 25)]
    resumed = [step_row(step, 1.0) for step in (15, 20, 25, 30)]
    write_run(tmp_path, first + resumed,
              [(1, 3.0, 0.1, 0.2, 0.6), (2, 2.5, 0.2, 0.3, 0.7), (2, 1.5, 0.2, 0.4, 0.8), (3, 1.0, 0.3, 0.5, 0.9)])
    metrics = read_run_metrics(str(tmp_path))
    assert metrics.steps_per_epoch == STEPS_PER_EPOCH
    assert list(metrics.step_position) == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert list(metrics.step_loss) == [3.0, 3.0, 1.0, 1.0, 1.0, 1.0]
    assert list(metrics.epoch) == [1, 2, 3] and list(metrics.epoch_loss) == [3.0, 1.5, 1.0]
    assert list(metrics.top1) == [0.2, 0.4, 0.5]
    draw(tmp_path)


def test_a_run_without_validation(tmp_path):
    write_run(tmp_path, [step_row(step, 2.0 - step / 20) for step in range(5, 25, 5)],
              [(1, 1.8, 0.1, '', ''), (2, 1.0, 0.2, '', '')])
    assert all(math.isnan(value) for value in read_run_metrics(str(tmp_path)).top1)
    draw(tmp_path)


def test_a_run_in_its_first_epoch(tmp_path):
    write_run(tmp_path, [step_row(5, 2.3)], [])
    metrics = read_run_metrics(str(tmp_path))
    assert len(metrics.epoch) == 0 and np.isfinite(metrics.step_loss).all()
    draw(tmp_path)


def test_missing_or_malformed_files_are_one_line(tmp_path):
    def error():
        return one_line_error(run_script('-m', 'src.engine.plots', '--output_dir', str(tmp_path), timeout=60))

    assert 'train_steps.csv does not exist' in error()
    write_csv(tmp_path / 'train_steps.csv', STEP_FIELDS, [step_row(5, 2.0)])
    assert 'epochs.csv does not exist' in error()
    write_csv(tmp_path / 'epochs.csv', ('epoch', 'loss'), [])
    assert 'epochs.csv is not a metrics file of train.py (missing columns: top1, top5)' in error()
    write_run(tmp_path, [], [])
    assert 'holds no logged steps yet' in error()
    result = run_script('-m', 'src.engine.plots', '--output_dri', str(tmp_path), timeout=60)
    assert 'unknown option --output_dri; did you mean --output_dir?' in one_line_error(result)


def test_a_failure_to_draw_is_one_warning_line_at_the_end_of_training(tmp_path, capsys):
    draw_after_training(str(tmp_path))
    captured = capsys.readouterr()
    assert captured.out == '' and captured.err.count('\n') == 1
    assert captured.err.startswith('warning: training curves not drawn (') and 'python -m src.engine.plots' in captured.err

"""Training curves of a run as one picture: OUTPUT_DIR/training_curves.png, drawn from the train_steps.csv and
epochs.csv that train.py writes into OUTPUT_DIR (src/engine/monitor.py). train.py draws it when it finishes;
this command draws it on demand (during a run, or for a run from before the picture existed):

  python -m src.engine.plots --output_dir OUTPUT_DIR

Three panels over one epoch axis (a step logged at global step g sits at g / steps per epoch):
  loss           -- every logged step, and each epoch's mean over all its steps at the epoch's end;
  learning rate  -- at every logged step;
  validation     -- top-1 and top-5 accuracy per epoch, when the run validated (--run_eval true).
A resumed run appends to both files and repeats the steps and epochs between its checkpoint and the
interruption: for each global step and each epoch the last row counts. Missing or malformed files are
reported in one line with exit status 2.
"""
from src.utils.interrupts import answer_signals_if_main

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import csv
import io
import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from src.config import parse_config
from src.utils.errors import UsageError, first_line, quoted, run_main

STEPS_FILE = 'train_steps.csv'
EPOCHS_FILE = 'epochs.csv'
CURVES_FILE = 'training_curves.png'
# The columns drawn; src/engine/monitor.py writes more. Named here because importing it imports MindSpore.
STEP_COLUMNS = ('step', 'global_step', 'loss', 'lr')
EPOCH_COLUMNS = ('epoch', 'loss', 'top1', 'top5')
FIGURE_INCHES = (8, 9)
DPI = 100
FIGURE_PIXELS = (FIGURE_INCHES[0] * DPI, FIGURE_INCHES[1] * DPI)  # (width, height) of the PNG


@dataclass(frozen=True)
class RunMetrics:
    """What the picture shows, one entry per global step or epoch; accuracies are NaN where not validated."""
    steps_per_epoch: int
    step_position: np.ndarray  # logged steps, in epochs
    step_loss: np.ndarray
    step_lr: np.ndarray
    epoch: np.ndarray
    epoch_loss: np.ndarray
    top1: np.ndarray
    top5: np.ndarray


def _number(text):
    """A CSV cell as a float; an empty cell (an epoch without validation) is NaN."""
    return float(text) if text != '' else math.nan


def read_last_rows(path, key, columns):
    """The `columns` of a metrics CSV as floats, shape (rows, columns), one row per value of `key` in its order;
    a later row replaces an earlier one with the same key (a resumed run repeats what it redoes). UsageError if
    the file is missing or malformed."""
    if not os.path.isfile(path):
        raise UsageError(f'{path} does not exist; train.py writes it into its --output_dir')
    damaged = 'the file is damaged: restore it from a copy, or delete that line'
    with open(path, 'rb') as handle:
        data = handle.read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as error:  # train.py writes UTF-8: other bytes are a damaged file (or another file)
        line = data.count(b'\n', 0, error.start) + 1
        raise UsageError(f'{path} line {line} is not UTF-8 text as train.py writes it; {damaged}') from None
    reader = csv.DictReader(io.StringIO(text, newline=''))
    try:
        missing = [column for column in columns if column not in (reader.fieldnames or ())]
        if missing:
            raise UsageError(f'{path} is not a metrics file of train.py (missing columns: {", ".join(missing)})')
        rows = {}
        for row in reader:
            try:
                rows[int(row[key])] = [_number(row[column]) for column in columns]
            except (TypeError, ValueError):
                raise UsageError(f'{path} line {reader.line_num} is not a row of numbers: {quoted(row)}') from None
    except csv.Error as error:  # e.g. a field beyond the csv module's size limit
        # DictReader counts a line once its row is made; its inner reader has counted the failing one
        raise UsageError(f'{path} line {reader.reader.line_num} is not CSV as train.py writes it ({error}); '
                         f'{damaged}') from None
    return np.array([rows[value] for value in sorted(rows)], dtype=float).reshape(-1, len(columns))


def read_run_metrics(output_dir):
    """The metrics of the run in `output_dir`; UsageError if a file is missing or no step was logged yet."""
    steps_path = os.path.join(output_dir, STEPS_FILE)
    steps = read_last_rows(steps_path, 'global_step', STEP_COLUMNS)
    epochs = read_last_rows(os.path.join(output_dir, EPOCHS_FILE), 'epoch', EPOCH_COLUMNS)
    if len(steps) == 0:
        raise UsageError(f'{steps_path} holds no logged steps yet')
    step_in_epoch, global_step, step_loss, step_lr = steps.T
    # The last step of every epoch is always logged, so the largest step number is the epoch's length.
    steps_per_epoch = int(step_in_epoch.max())
    epoch, epoch_loss, top1, top5 = epochs.T
    return RunMetrics(steps_per_epoch=steps_per_epoch, step_position=global_step / steps_per_epoch,
                      step_loss=step_loss, step_lr=step_lr, epoch=epoch, epoch_loss=epoch_loss, top1=top1, top5=top5)


def draw_training_curves(output_dir):
    """Draw OUTPUT_DIR/training_curves.png from the run's CSV files; returns its path."""
    # Imported here so that train.py finishes, with a warning, on a machine without matplotlib.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = read_run_metrics(output_dir)
    figure = Figure(figsize=FIGURE_INCHES, dpi=DPI, layout='constrained')
    FigureCanvasAgg(figure)  # render with Agg: no display needed
    loss_axes, lr_axes, accuracy_axes = figure.subplots(3, 1, sharex=True)

    loss_axes.plot(metrics.step_position, metrics.step_loss, color='tab:blue', alpha=0.45, linewidth=1,
                   label='logged step')
    loss_axes.plot(metrics.epoch, metrics.epoch_loss, 'o-', color='tab:blue', label="epoch mean, at the epoch's end")
    loss_axes.set_ylabel('training loss')
    loss_axes.legend(loc='upper right')

    lr_axes.plot(metrics.step_position, metrics.step_lr, color='tab:green')
    lr_axes.set_ylabel('learning rate')
    lr_axes.ticklabel_format(axis='y', style='sci', scilimits=(-3, 3))

    validated = ~np.isnan(metrics.top1)
    if validated.any():
        best = int(np.nanargmax(metrics.top1))
        top1_label = f'top-1 (best {100 * metrics.top1[best]:.1f}% at epoch {metrics.epoch[best]:.0f})'
        for values, label, color in ((metrics.top1, top1_label, 'tab:red'), (metrics.top5, 'top-5', 'tab:orange')):
            accuracy_axes.plot(metrics.epoch[validated], 100 * values[validated], 'o-', color=color, label=label)
        accuracy_axes.set_ylim(0, 100)
        accuracy_axes.legend(loc='lower right')
    else:
        accuracy_axes.text(0.5, 0.5, 'no validation in this run (train.py --run_eval true adds it)',
                           transform=accuracy_axes.transAxes, ha='center', va='center', color='grey')
        accuracy_axes.set_yticks([])
    accuracy_axes.set_ylabel('validation accuracy (%)')
    accuracy_axes.set_xlabel(f'epoch ({metrics.steps_per_epoch} steps per epoch)')
    accuracy_axes.set_xlim(left=0)

    for axes in (loss_axes, lr_axes, accuracy_axes):
        axes.grid(alpha=0.3)
    finished = len(metrics.epoch)
    epochs_done = f'{finished} epoch{"s" * (finished != 1)}' if finished else 'first epoch not finished'
    figure.suptitle(f'Training curves of {os.path.normpath(output_dir)} ({epochs_done})', fontsize=11)
    path = os.path.join(output_dir, CURVES_FILE)
    figure.savefig(path)
    return path


def draw_after_training(output_dir):
    """draw_training_curves at the end of train.py: prints where the picture is, or one warning line. Never
    raises: the run has finished and saved its checkpoints, and a picture must not turn it into a failure."""
    try:
        print(f'training curves: {draw_training_curves(output_dir)}', flush=True)
    except Exception as error:  # pylint: disable=broad-except  (whatever failed, the training succeeded)
        reason = first_line(error)
        print(f'warning: training curves not drawn ({reason}); draw them later with '
              f'python -m src.engine.plots --output_dir {output_dir}', file=sys.stderr, flush=True)


def main():
    cfg = parse_config(__doc__, command='plots', prog='python -m src.engine.plots')
    print(f'training curves: {draw_training_curves(cfg.output_dir)}')


if __name__ == '__main__':
    run_main(main)

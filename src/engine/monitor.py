"""Training progress: a line every few steps (loss, learning rate, images/s, ETA) and one per epoch (mean
loss, time, throughput, validation accuracy), the same figures in CSV files, and a stop with a clear
message when the loss stops being a finite number."""
import csv
import math
import os
import time

import numpy as np
from mindspore.train import Callback

from src.utils.progress import format_seconds

STEP_FIELDS = ('epoch', 'step', 'global_step', 'loss', 'lr', 'images_per_sec')
EPOCH_FIELDS = ('epoch', 'loss', 'lr', 'top1', 'top5', 'epoch_seconds', 'images_per_sec', 'overflow_steps')


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite: training cannot recover from it."""


class _CsvLog:
    """Rows appended to a CSV file (a resumed run continues the file), flushed at once."""

    def __init__(self, path, fields):
        new = not os.path.exists(path)
        self.handle = open(path, 'a', newline='', encoding='utf-8')  # pylint: disable=consider-using-with
        self.writer = csv.DictWriter(self.handle, fieldnames=fields)
        if new:
            self.writer.writeheader()

    def write(self, row):
        self.writer.writerow(row)
        self.handle.flush()

    def close(self):
        self.handle.close()


class LossMonitor(Callback):
    """Progress of a training run started at `start_epoch` (0, or the epoch a resumed run continues after).

    Every rank checks the loss; only the `report`ing rank (rank 0) prints and writes
    `metrics_dir`/train_steps.csv and epochs.csv. The epoch's line is written by `report_epoch`, which
    src.engine.epoch_end.EpochEnd calls once the epoch's validation is known.
    """

    def __init__(self, learning_rates, *, steps_per_epoch, epochs, images_per_step, log_interval, start_epoch=0,
                 metrics_dir=None, report=True):
        super().__init__()
        self.learning_rates = learning_rates
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs
        self.images_per_step = images_per_step
        self.log_interval = log_interval
        self.start_epoch = start_epoch
        self.report = report
        self.step_log = self.epoch_log = None
        if report and metrics_dir:
            os.makedirs(metrics_dir, exist_ok=True)
            self.step_log = _CsvLog(os.path.join(metrics_dir, 'train_steps.csv'), STEP_FIELDS)
            self.epoch_log = _CsvLog(os.path.join(metrics_dir, 'epochs.csv'), EPOCH_FIELDS)
        self.last_global_step = start_epoch * steps_per_epoch
        self.graph_compiled = False
        self.timed_steps = 0
        self.timed_seconds = 0.0

    def on_train_epoch_begin(self, run_context):
        self.epoch_losses = []
        self.overflow_steps = 0
        self.epoch_start = self.interval_start = time.time()
        self.interval_steps = 0
        self.last_step_end = self.epoch_start

    def on_train_step_end(self, run_context):
        params = run_context.original_args()
        outputs = params.net_outputs
        loss_tensor = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
        loss = float(np.mean(loss_tensor.asnumpy()))
        if isinstance(outputs, (tuple, list)) and len(outputs) > 1 and bool(outputs[1].asnumpy()):
            self.overflow_steps += 1  # the loss-scale cell skipped this update
        # cur_step_num counts this process's steps; a resumed run starts after start_epoch epochs.
        global_step = self.start_epoch * self.steps_per_epoch + params.cur_step_num
        epoch = params.cur_epoch_num
        step_in_epoch = global_step - (epoch - 1) * self.steps_per_epoch
        if not math.isfinite(loss):
            raise NonFiniteLossError(f'loss is {loss} at epoch {epoch}, step {step_in_epoch}: training diverged')
        self.epoch_losses.append(loss)
        # In sink mode one call covers every step run since the previous call.
        new_steps = global_step - self.last_global_step
        self.last_global_step = global_step
        now = time.time()
        if self.graph_compiled:  # the run's first call includes compiling the graph: not a speed to plan by
            self.timed_steps += new_steps
            self.timed_seconds += now - self.last_step_end
        self.graph_compiled = True
        self.last_step_end = now
        self.interval_steps += new_steps
        if self.report and (step_in_epoch % self.log_interval == 0 or step_in_epoch == self.steps_per_epoch):
            self._report_step(epoch, step_in_epoch, global_step, loss, now)

    def _report_step(self, epoch, step, global_step, loss, now):
        speed = self.interval_steps * self.images_per_step / max(now - self.interval_start, 1e-9)
        self.interval_start, self.interval_steps = now, 0
        lr = float(self.learning_rates[global_step - 1])
        remaining = self.epochs * self.steps_per_epoch - global_step
        eta = (format_seconds(remaining * self.timed_seconds / self.timed_steps)
               if self.timed_steps else 'estimating')
        print(f'epoch {epoch}/{self.epochs} step {step}/{self.steps_per_epoch} loss {loss:.4f} lr {lr:.6f} '
              f'{speed:.1f} img/s ETA {eta}', flush=True)
        if self.step_log:
            self.step_log.write({'epoch': epoch, 'step': step, 'global_step': global_step, 'loss': f'{loss:.6f}',
                                 'lr': f'{lr:.8g}', 'images_per_sec': f'{speed:.2f}'})

    def report_epoch(self, epoch, validation=None):
        """The line and epochs.csv row of `epoch`, with its validation result ({'top1', 'top5', ...}) if any."""
        validation = validation or {}
        seconds = self.last_step_end - self.epoch_start
        loss = float(np.mean(self.epoch_losses))
        lr = float(self.learning_rates[epoch * self.steps_per_epoch - 1])
        speed = self.steps_per_epoch * self.images_per_step / max(seconds, 1e-9)
        if self.report:
            line = (f'epoch {epoch}/{self.epochs} done: loss {loss:.4f} lr {lr:.6f} time {seconds:.1f} s '
                    f'{speed:.1f} img/s')
            if validation:
                line += f" | val top1 {validation['top1']:.4f} top5 {validation['top5']:.4f}"
            if self.overflow_steps:
                line += f' | {self.overflow_steps} overflow steps skipped'
            print(line, flush=True)
        if self.epoch_log:
            self.epoch_log.write({'epoch': epoch, 'loss': f'{loss:.6f}', 'lr': f'{lr:.8g}',
                                  'top1': validation.get('top1', ''), 'top5': validation.get('top5', ''),
                                  'epoch_seconds': f'{seconds:.2f}', 'images_per_sec': f'{speed:.2f}',
                                  'overflow_steps': self.overflow_steps})

    def on_train_end(self, run_context):
        for log in (self.step_log, self.epoch_log):
            if log:
                log.close()

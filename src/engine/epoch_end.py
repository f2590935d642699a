"""The end of each training epoch, in the one right order whatever the order of the callbacks (EpochEnd), and the
BatchNorm statistics averaged over a data-parallel group before the ranks validate and rank 0 saves
(BatchNormStatisticsSync)."""
import numpy as np

import mindspore as ms
from mindspore import nn, ops
from mindspore.train import Callback


def updates_batchnorm_statistics(cell):
    """Whether a BatchNorm layer moves its statistics in training (not when frozen by train_classifier_only)."""
    return isinstance(cell, nn.BatchNorm2d) and cell.use_batch_statistics is not False


class BatchNormStatisticsSync:
    """Replace every rank's BatchNorm moving mean and variance by their mean over the data-parallel group.
    Gradients are averaged but these statistics are each rank's own; without this the ranks would validate, and
    rank 0 would save, a network that differs from rank to rank."""

    def __init__(self, net, group_size):
        super().__init__()
        self.statistics = [param for _, cell in net.cells_and_names() if updates_batchnorm_statistics(cell)
                           for param in (cell.moving_mean, cell.moving_variance)]
        self.group_size = group_size
        self.all_reduce = ops.AllReduce()

    def average(self):
        if not self.statistics:
            return
        flat = np.concatenate([param.asnumpy().ravel() for param in self.statistics])
        mean = self.all_reduce(ms.Tensor(flat)).asnumpy() / self.group_size
        offset = 0
        for param in self.statistics:
            param.set_data(ms.Tensor(mean[offset:offset + param.size].reshape(param.shape), param.dtype))
            offset += param.size


class EpochEnd(Callback):
    """Everything that ends an epoch, in the one order that is right, whatever the order of the callback list:
    1. `statistics_sync` (data parallel) averages the BatchNorm statistics, so that every rank validates, and
       rank 0 saves, the same network;
    2. `validator` validates, when the epoch is one to validate;
    3. `checkpoints` (rank 0) saves the best checkpoint if top-1 improved, then the epoch's checkpoint if due,
       both recording the best top-1 so far;
    4. `monitor` reports the epoch with its validation.
    Each part is optional but the monitor."""

    def __init__(self, monitor, *, statistics_sync=None, validator=None, checkpoints=None):
        super().__init__()
        self.monitor = monitor
        self.statistics_sync = statistics_sync
        self.validator = validator
        self.checkpoints = checkpoints

    def on_train_epoch_end(self, run_context):
        epoch = run_context.original_args().cur_epoch_num
        if self.statistics_sync:
            self.statistics_sync.average()
        validation = self.validator.validate(epoch) if self.validator else None
        if self.checkpoints:
            best_top1 = self.validator.best_top1 if self.validator else 0.0
            if validation and validation['improved']:
                self.checkpoints.save_best(epoch, best_top1)
            self.checkpoints.save_if_due(epoch, best_top1)
        self.monitor.report_epoch(epoch, validation)

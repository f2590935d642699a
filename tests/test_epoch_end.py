"""src.engine.epoch_end.EpochEnd: validation, the best and periodic checkpoints and the epoch's report come out right
whatever the order of the callback list."""
import csv

import mindspore as ms
import pytest
from mindspore import nn

from src.data.dataset import create_dataset
from src.engine.checkpoint import CheckpointSaver, architecture, read_checkpoint
from src.engine.epoch_end import EpochEnd
from src.engine.lr_schedule import learning_rates
from src.engine.monitor import LossMonitor
from src.engine.validation import Validator
from src.models import create_model

EPOCHS, BATCH = 2, 8

pytestmark = pytest.mark.slow


def short_run(demo, output_dir, monitor_first):
    """Train a tiny network for EPOCHS epochs on `demo`, validated and checkpointed every epoch, with the
    monitor first or last in the callback list; returns (the rows of epochs.csv, steps per epoch)."""
    ms.set_seed(1)
    common = dict(batch_size=BATCH, image_height=32, image_width=32)
    train_set = create_dataset(str(demo / 'train'), training=True, **common)
    val_set = create_dataset(str(demo / 'val'), training=False, **common)
    steps = train_set.steps_per_epoch
    net = create_model(arch='resnet18', num_classes=10, base_width=4, zero_init_residual=True)  # quick to compile
    rates = learning_rates('cosine_annealing', lr_init=0.05, eta_min=0.0, steps_per_epoch=steps, epochs=EPOCHS)
    train_network = nn.TrainOneStepCell(nn.WithLossCell(net, nn.CrossEntropyLoss()),
                                        nn.Momentum(net.trainable_params(), ms.Tensor(rates), momentum=0.9))
    monitor = LossMonitor(rates, steps_per_epoch=steps, epochs=EPOCHS, images_per_step=BATCH, log_interval=steps,
                          metrics_dir=str(output_dir))
    (output_dir / 'ckpt').mkdir()
    epoch_end = EpochEnd(monitor, validator=Validator(net, val_set.dataset, group_size=1, interval=1, epochs=EPOCHS),
                         checkpoints=CheckpointSaver(train_network, network=architecture(net),
                                                     directory=str(output_dir / 'ckpt'), prefix='run', every_epochs=1,
                                                     keep_max=EPOCHS, epochs=EPOCHS, steps_per_epoch=steps,
                                                     best_path=str(output_dir / 'best.ckpt')))
    callbacks = [monitor, epoch_end] if monitor_first else [epoch_end, monitor]
    ms.Model(train_network).train(EPOCHS, train_set.dataset, callbacks=callbacks, dataset_sink_mode=False)
    with open(output_dir / 'epochs.csv', encoding='utf-8') as handle:
        return list(csv.DictReader(handle)), steps


def state(path):
    saved = read_checkpoint(str(path))
    return int(saved['epoch_num'].asnumpy()), float(saved['best_top1'].asnumpy())


@pytest.mark.parametrize('monitor_first', [True, False])
def test_epoch_end_work_does_not_depend_on_the_callback_order(tiny_demo, tmp_path, capsys, monitor_first):
    rows, steps = short_run(tiny_demo, tmp_path, monitor_first)
    top1 = [float(row['top1']) for row in rows]
    assert [row['epoch'] for row in rows] == [str(epoch) for epoch in range(1, EPOCHS + 1)]
    assert all(row['top5'] for row in rows)  # every epoch's row carries its validation
    printed = capsys.readouterr().out
    for epoch, value in enumerate(top1, start=1):
        assert f'epoch {epoch}/{EPOCHS} done: ' in printed
        assert f'| val top1 {value:.4f}' in printed
    best_epoch = top1.index(max(top1)) + 1  # the first epoch to reach the best top-1
    assert state(tmp_path / 'best.ckpt') == (best_epoch, pytest.approx(max(top1)))
    for epoch in range(1, EPOCHS + 1):  # each periodic checkpoint records the best top-1 up to its epoch
        assert state(tmp_path / 'ckpt' / f'run-{epoch}_{steps}.ckpt') == (epoch, pytest.approx(max(top1[:epoch])))

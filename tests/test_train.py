"""train.py and eval.py for real on the demo data: convergence, resume after a kill, the non-finite loss guard,
mixed precision on the CPU, a two-worker msrun run, checkpoint evaluation, and the error paths."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import (DATA_PARALLEL_BATCH, PARALLEL_TRAIN_PER_CLASS, REPO, SMALL_NET,
                      STEPS_PER_EPOCH, VAL_PER_CLASS, checkpoint, load, parameter_digests, read_csv, run_script,
                      train_args)
from src.engine.lr_schedule import learning_rates


@pytest.fixture(scope='module')
def demo(demo_set):
    return demo_set


@pytest.fixture(scope='module')
def converged_run(trained_run):
    return trained_run


def test_a_short_run_converges_far_above_chance(converged_run):
    output_dir, result = converged_run
    epochs = read_csv(output_dir / 'epochs.csv')
    assert [row['epoch'] for row in epochs] == ['1', '2', '3', '4', '5', '6']
    assert float(epochs[-1]['loss']) < float(epochs[0]['loss'])
    assert float(epochs[-1]['top1']) > 0.35 and float(epochs[-1]['top5']) > 0.8  # chance: 0.1 and 0.5
    assert 'val top1' in result.stdout and 'img/s ETA' in result.stdout


def test_progress_metrics_and_config_are_written(converged_run):
    output_dir, _ = converged_run
    steps = read_csv(output_dir / 'train_steps.csv')
    assert steps and set(steps[0]) == {'epoch', 'step', 'global_step', 'loss', 'lr', 'images_per_sec'}
    schedule = learning_rates('cosine_annealing', lr_init=0.05, eta_min=0.0, steps_per_epoch=STEPS_PER_EPOCH,
                              epochs=6, warmup_epochs=1)
    for row in steps:
        assert float(row['lr']) == pytest.approx(schedule[int(row['global_step']) - 1], rel=1e-5)
        assert np.isfinite(float(row['loss'])) and float(row['images_per_sec']) > 0
    assert (output_dir / 'config.json').is_file()


def test_checkpoints_keep_the_newest_and_the_best(converged_run):
    output_dir, _ = converged_run
    kept = sorted(os.listdir(output_dir / 'ckpt'))
    assert kept == [checkpoint(output_dir, epoch).name for epoch in (4, 5, 6)]
    assert not [name for name in os.listdir(output_dir) if 'partial' in name]
    best = load(output_dir / 'train_resnet50_bam_imagenet_best.ckpt')
    epochs = read_csv(output_dir / 'epochs.csv')
    best_epoch = max(epochs, key=lambda row: float(row['top1']))
    assert int(best['epoch_num'].asnumpy()) == int(best_epoch['epoch'])
    assert float(best['best_top1'].asnumpy()) == pytest.approx(float(best_epoch['top1']))


def test_eval_scores_each_checkpoint_in_epoch_order(converged_run, demo):
    output_dir, _ = converged_run
    result = run_script('eval.py', '--checkpoint_path', str(output_dir / 'ckpt'), '--val_data_path',
                        str(demo / 'val'), '--output_dir', str(output_dir / 'eval'), *SMALL_NET)
    assert result.returncode == 0, result.stderr
    rows = read_csv(output_dir / 'eval' / 'eval_results.csv')
    assert [os.path.basename(row['checkpoint']) for row in rows] == [checkpoint(output_dir, e).name for e in (4, 5, 6)]
    validation = {row['epoch']: row for row in read_csv(output_dir / 'epochs.csv')}
    for row, epoch in zip(rows, ('4', '5', '6')):
        assert int(row['images']) == VAL_PER_CLASS * 10
        assert float(row['top1']) == pytest.approx(float(validation[epoch]['top1']))


def test_eval_reports_bad_checkpoints(converged_run, demo, tmp_path):
    output_dir, _ = converged_run
    truncated = tmp_path / 'net-1_1.ckpt'
    truncated.write_bytes(checkpoint(output_dir, 6).read_bytes()[:20000])
    common = ('--val_data_path', str(demo / 'val'), '--output_dir', str(tmp_path / 'eval'), *SMALL_NET)
    result = run_script('eval.py', '--checkpoint_path', str(truncated), *common)
    assert result.returncode == 2 and 'truncated or not a MindSpore checkpoint' in result.stderr
    result = run_script('eval.py', '--checkpoint_path', str(checkpoint(output_dir, 6)), *common, '--base_width', '16')
    assert result.returncode == 2
    assert 'does not fit the network' in result.stderr and 'conv1.weight (8, 3, 7, 7) != (16, 3, 7, 7)' in result.stderr
    result = run_script('eval.py', '--checkpoint_path', str(tmp_path / 'missing'), *common)
    assert result.returncode == 2 and 'does not exist' in result.stderr


def test_the_constant_schedule_warms_up_then_holds_the_peak():
    rates = learning_rates('constant', lr_init=0.1, eta_min=0.0, steps_per_epoch=4, epochs=3, warmup_epochs=1)
    np.testing.assert_allclose(rates, [0.025, 0.05, 0.075, 0.1] + [0.1] * 8, rtol=1e-6)


def test_the_step_schedule_cuts_the_rate_every_step_epochs_of_the_run():
    rates = learning_rates('step', lr_init=0.1, eta_min=0.0, steps_per_epoch=2, epochs=7, warmup_epochs=1,
                           step_epochs=3, step_factor=0.5)
    np.testing.assert_allclose(rates, [0.05, 0.1] + [0.1] * 4 + [0.05] * 6 + [0.025] * 2, rtol=1e-6)


@pytest.mark.parametrize('decay_bn_and_bias', [False, True])
def test_weight_decay_reaches_batchnorm_and_biases_only_when_asked(decay_bn_and_bias):
    from src.engine.train_step import parameter_groups
    from src.models import create_model

    net = create_model(arch='resnet18_cbam', num_classes=10, base_width=16)
    decayed = {param.name for group in parameter_groups(net, 1e-4, decay_bn_and_bias)
               if group.get('weight_decay') == 1e-4 for param in group['params']}
    names = {param.name for param in net.trainable_params()}
    norm_and_bias = {name for name in names if name.endswith(('.gamma', '.beta', '.bias'))}
    assert 'fc.bias' in norm_and_bias and 'layer1.0.cbam.ChannelGate.mlp.1.bias' in norm_and_bias
    assert decayed == (names if decay_bn_and_bias else names - norm_and_bias)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(converged_run, demo, tmp_path):
    output_dir, _ = converged_run
    good = tmp_path / 'ckpt' / checkpoint(output_dir, 5).name
    good.parent.mkdir()
    good.write_bytes(checkpoint(output_dir, 5).read_bytes())
    result = run_script(*train_args(demo, tmp_path, '--epoch_size', '6', '--lr_init', '1e30', '--resume', str(good)))
    assert result.returncode == 1
    assert 'loss is nan at epoch 6' in result.stderr and f'the last good checkpoint is {good}' in result.stderr
    assert os.listdir(good.parent) == [good.name]
    assert int(load(good)['epoch_num'].asnumpy()) == 5


@pytest.mark.slow
def test_mixed_precision_on_the_cpu_trains_without_nan(tiny_demo, tmp_path):
    result = run_script(*train_args(tiny_demo, tmp_path, '--epoch_size', '1', '--amp_level', 'O2', '--batch_size', '8',
                                    '--log_interval', '1'))
    assert result.returncode == 0, result.stderr
    assert 'amp_level_used' in result.stdout and '= O2' in result.stdout
    losses = [float(row['loss']) for row in read_csv(tmp_path / 'train_steps.csv')]
    assert losses and all(np.isfinite(losses))


def test_two_msrun_workers_stay_identical_and_validate_every_image(two_worker_run, parallel_set, tmp_path):
    output_dir, result = two_worker_run
    logs = {rank: (output_dir / 'logs' / f'worker_{rank}.log').read_text() for rank in (0, 1)}
    assert result.returncode == 0, result.stderr + logs[0][-2000:] + logs[1][-2000:]
    digests = parameter_digests(output_dir)
    assert len(digests[0]) == 1 and digests[0] == digests[1]
    assert 'epoch 1/1 done' in logs[0] and 'epoch 1/1 done' not in logs[1]  # only rank 0 reports
    # The console shows rank 0's own output, without MindSpore's log records.
    assert 'epoch 1/1 done' in result.stdout and '[WARNING]' not in result.stdout + result.stderr
    steps = PARALLEL_TRAIN_PER_CLASS * 10 // 2 // DATA_PARALLEL_BATCH
    ckpt = checkpoint(output_dir, 1).with_name(f'train_resnet50_bam_imagenet-1_{steps}.ckpt')
    top1 = float(read_csv(output_dir / 'epochs.csv')[0]['top1'])
    single = run_script('eval.py', '--checkpoint_path', str(ckpt), '--val_data_path', str(parallel_set / 'val'),
                        '--output_dir', str(tmp_path / 'eval'), *SMALL_NET)
    assert single.returncode == 0, single.stderr
    assert float(read_csv(tmp_path / 'eval' / 'eval_results.csv')[0]['top1']) == pytest.approx(top1)


@pytest.mark.parametrize('extra, message', [
    (('--data_path', '/no/such/folder'), '/no/such/folder'),
    (('--resume', '/no/such.ckpt'), '--resume /no/such.ckpt does not exist'),
    (('--num_classes', '7'), 'num_classes'),
])
def test_bad_input_fails_before_training(demo, tmp_path, extra, message):
    result = run_script(*train_args(demo, tmp_path, '--epoch_size', '1'), *extra)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count('\n') == 1
    assert not (tmp_path / 'ckpt').exists()


def test_resume_needs_a_training_checkpoint_of_the_same_run(converged_run, demo, tmp_path):
    from src.engine.checkpoint import save_atomically
    from src.models.resnet import resnet50_bam
    weights_only = save_atomically(resnet50_bam(10, base_width=8), str(tmp_path / 'weights.ckpt'))
    result = run_script(*train_args(demo, tmp_path, '--epoch_size', '2', '--resume', weights_only))
    assert result.returncode == 2 and 'holds no training state' in result.stderr
    output_dir, _ = converged_run
    result = run_script(*train_args(demo, tmp_path, '--epoch_size', '8', '--resume', str(checkpoint(output_dir, 5)),
                                    '--batch_size', '16'))
    assert result.returncode == 2 and 'steps per epoch' in result.stderr
    result = run_script(*train_args(demo, tmp_path, '--epoch_size', '6', '--resume', str(checkpoint(output_dir, 6))))
    assert result.returncode == 2 and 'nothing left to train' in result.stderr


def test_launch_scripts_check_their_arguments(tmp_path):
    for script, args, message in [
        ('run_distribute_train_cpu.sh', ['two', 'data'], 'WORKER_NUM must be a positive integer'),
        ('run_distribute_train.sh', [str(tmp_path / 'none.json'), 'data'], 'does not exist'),
        ('run_standalone_train_gpu.sh', ['0'], 'need DEVICE_ID and DATA_PATH'),
        ('run_eval.sh', [], 'need CHECKPOINT_PATH and VAL_DATA_PATH'),
    ]:
        result = subprocess.run(['bash', f'scripts/{script}', *args], cwd=REPO, capture_output=True, text=True,
                                timeout=60, check=False, env=dict(os.environ, PYTHON=sys.executable))
        assert result.returncode == 2, (script, result.stderr)
        assert result.stderr.startswith(f'usage: bash scripts/{script}') and message in result.stderr


@pytest.mark.slow
def test_gpu_script_on_a_machine_without_gpu_fails_clearly(demo, tmp_path):
    result = subprocess.run(['bash', 'scripts/run_standalone_train_gpu.sh', '0', str(demo / 'train'),
                             '--num_classes', '10', '--output_dir', str(tmp_path)], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False, env=dict(os.environ, PYTHON=sys.executable))
    assert result.returncode == 2
    assert 'device_target GPU is not available' in result.stdout  # tee'd into the log and onto stdout
    assert 'device_target GPU is not available' in (tmp_path / 'logs' / 'train.log').read_text()

"""Train ResNet50-BAM on ImageNet-layout image folders: one device or a data-parallel group, mixed
precision, checkpoints, resume, and validation while training.

  python train.py --data_path TRAIN_DIR [--val_data_path VAL_DIR --run_eval true] [--device_target auto]
  python train.py ... --resume OUTPUT_DIR/ckpt/train_resnet50_bam_imagenet-4_312.ckpt
Data-parallel runs start through scripts/run_distribute_train*.sh, which add --run_distribute true.
Writes OUTPUT_DIR/config.json (the settings, also a recipe for --config), run.json, ckpt/*.ckpt, train_steps.csv,
epochs.csv, the best checkpoint and, at the end, training_curves.png (src/engine/plots.py). OUTPUT_DIR is this run's
while it runs: a second run into it stops at once, naming this one; a new run into a folder holding an earlier
run's results is refused unless it continues that run (--resume a checkpoint in it) or --overwrite true.
"""
from src.utils.interrupts import answer_signals_if_main, report_kept

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import os
import sys

from src.config import command_settings, format_config, parse_config, save_config
from src.engine.checkpoint import checkpoint_files, checkpoint_prefix
from src.engine.training_inputs import check_inputs, claim_output
from src.utils.device import exit_with_launcher
from src.utils.errors import UsageError, run_main
from src.utils.files import remove_partial_files, write_json


def main():
    exit_with_launcher()
    cfg = parse_config(__doc__, command='train')
    checkpoint_dir = check_inputs(cfg)
    if not cfg.run_distribute:
        claim_output(cfg)

    def kept():
        try:
            last = checkpoint_files(checkpoint_dir)[-1]
        except UsageError:
            return 'no checkpoint was saved'
        return f'the last good checkpoint is {last} (continue with --resume {last})'
    report_kept(kept)  # said on Ctrl-C (src/utils/interrupts.py) and after a failure

    from src.utils.device import check_same_data, setup_device
    device = setup_device(cfg)
    if cfg.run_distribute and device.is_main:  # launched by src/launch/, or by hand (mpirun)
        claim_output(cfg)

    import mindspore as ms
    from src.data.dataset import create_dataset
    from src.engine.checkpoint import (CheckpointSaver, architecture, load_pretrained, parameter_digest,
                                       restore_training_state)
    from src.engine.epoch_end import BatchNormStatisticsSync, EpochEnd
    from src.engine.lr_schedule import learning_rates as schedule
    from src.engine.monitor import LossMonitor, NonFiniteLossError
    from src.engine.plots import draw_after_training
    from src.engine.train_step import amp_level, build_train_network, train_classifier_only
    from src.engine.validation import NonFiniteLogitsError, Validator
    from src.models import create_model, model_options

    both_sets = dict(batch_size=cfg.batch_size, image_height=cfg.image_height, image_width=cfg.image_width,
                     num_parallel_workers=cfg.num_parallel_workers, num_shards=device.group_size, shard_id=device.rank,
                     num_classes=cfg.num_classes)
    train_set = create_dataset(cfg.data_path, training=True, seed=cfg.seed, crop_min_scale=cfg.crop_min_scale,
                               color_jitter=cfg.color_jitter, **both_sets)
    val_set = (create_dataset(cfg.val_data_path, training=False, crop_pct=cfg.crop_pct, eval_resize=cfg.eval_resize,
                              **both_sets)
               if cfg.run_eval else None)
    if device.group_size > 1:
        check_same_data(device, {'train set (--data_path)': train_set, 'val set (--val_data_path)': val_set})
    steps = train_set.steps_per_epoch

    net = create_model(**model_options(cfg, device.target))
    if cfg.pre_trained:
        their_classes = load_pretrained(net, cfg.checkpoint_path, cfg.reset_classifier)
        if their_classes and device.is_main:
            why = ('--reset_classifier true' if their_classes == cfg.num_classes else
                   f'its classifier has {their_classes} classes and --num_classes is {cfg.num_classes}')
            print(f'fine-tuning from {cfg.checkpoint_path}: every weight is loaded but the classifier (fc), which starts '
                  f'fresh ({why})', flush=True)
    if cfg.linear_probe:
        train_classifier_only(net)
    learning_rates = schedule(cfg.lr_scheduler, lr_init=cfg.lr_init, eta_min=cfg.eta_min, steps_per_epoch=steps,
                              epochs=cfg.epoch_size, warmup_epochs=cfg.warmup_epochs, t_max_epochs=cfg.T_max,
                              step_epochs=cfg.lr_step_epochs, step_factor=cfg.lr_step_factor)
    train_network = build_train_network(cfg, net, learning_rates, device.target)
    start_epoch, best_top1 = 0, 0.0
    if cfg.resume:
        start_epoch, best_top1 = restore_training_state(train_network, cfg.resume, steps)
        if start_epoch >= cfg.epoch_size:
            raise UsageError(f'--resume {cfg.resume} finished epoch {start_epoch} of a run of --epoch_size '
                             f'{cfg.epoch_size}: nothing left to train; raise --epoch_size')

    monitor = LossMonitor(learning_rates, steps_per_epoch=steps, epochs=cfg.epoch_size,
                          images_per_step=cfg.batch_size * device.group_size, log_interval=cfg.log_interval,
                          start_epoch=start_epoch, metrics_dir=cfg.output_dir, report=device.is_main)
    validator = (Validator(net, val_set.dataset, group_size=device.group_size, interval=cfg.eval_interval,
                           epochs=cfg.epoch_size, best_top1=best_top1) if val_set else None)
    checkpoints = None
    if device.is_main:
        remove_partial_files(checkpoint_dir)
        remove_partial_files(cfg.output_dir)
        prefix = checkpoint_prefix(cfg.arch, cfg.name)
        checkpoints = CheckpointSaver(train_network, network=architecture(net), directory=checkpoint_dir,
                                      prefix=prefix, every_epochs=cfg.save_checkpoint_epochs,
                                      keep_max=cfg.keep_checkpoint_max, epochs=cfg.epoch_size, steps_per_epoch=steps,
                                      best_path=os.path.join(cfg.output_dir, f'{prefix}_best.ckpt'))
    statistics_sync = BatchNormStatisticsSync(net, device.group_size) if device.group_size > 1 else None
    # Each step: the monitor checks the loss is finite, times the step and logs progress and train_steps.csv.
    # Each epoch end (EpochEnd, in this order): 1. the BatchNorm statistics averaged over the group, 2. validation,
    # 3. the best checkpoint if top-1 improved, then the epoch's checkpoint if due, 4. the epoch's line and
    # epochs.csv.
    callbacks = [monitor, EpochEnd(monitor, statistics_sync=statistics_sync, validator=validator,
                                   checkpoints=checkpoints)]

    if device.is_main:
        settings = command_settings(cfg)
        if not cfg.pre_trained:  # unused by this run: `eval.py --config OUTPUT_DIR/config.json` scores its checkpoints
            settings['checkpoint_path'] = checkpoint_dir
        facts = {'config': cfg.config, 'amp_level_used': amp_level(cfg, device.target), 'group_size': device.group_size,
                 'steps_per_epoch': steps, 'train_images': train_set.total_images}
        print(f'{cfg.arch} ({cfg.stem} stem) training on {device.target} x{device.group_size}\n'
              f'{format_config({**settings, **facts})}')
        save_config(settings, cfg.output_dir)  # also a recipe: --config OUTPUT_DIR/config.json repeats the run
        write_json(os.path.join(cfg.output_dir, 'run.json'), facts)
        if start_epoch:
            print(f'resuming after epoch {start_epoch} (step {start_epoch * steps}, '
                  f'lr {learning_rates[start_epoch * steps]:.6f})', flush=True)

    sink = cfg.use_dataset_sink and device.target != 'CPU'
    model = ms.Model(train_network)
    try:
        model.train(cfg.epoch_size, train_set.dataset, callbacks=callbacks, dataset_sink_mode=sink,
                    initial_epoch=start_epoch)
    except (NonFiniteLossError, NonFiniteLogitsError) as error:
        sys.exit(f'train.py: {error}; {kept()}; lower --lr_init, add --warmup_epochs or use --amp_level O0')
    except (UsageError, OSError) as error:  # a checkpoint or a metrics file could not be written: disk full, ...
        reason = error if isinstance(error, UsageError) else f'cannot write {error.filename}: {error.strerror}'
        raise UsageError(f'{reason}; training stopped, {kept()}') from error
    if device.group_size > 1:  # every rank: equal digests show the group stayed in step
        print(f'rank {device.rank} parameter digest {parameter_digest(net)}', flush=True)
    if device.is_main:
        print(f'done: checkpoints in {checkpoint_dir}, metrics in {cfg.output_dir}', flush=True)
        draw_after_training(cfg.output_dir)


if __name__ == '__main__':
    run_main(main)

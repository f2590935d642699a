"""What train.py checks before any work, and how a run makes its output folder its own: run by train.py itself and
by the data-parallel launcher (src/launch/) before it starts any process, so that a wrong path or a busy folder
is the first and only line printed."""
import os

from src.engine.checkpoint import checkpoint_prefix
from src.utils.errors import UsageError
from src.utils.files import check_name_fits, check_output_dir, claim_output_dir, is_inside

# What a run leaves in --output_dir (logs/, which the launch scripts make first, is not among them).
RESULTS = ('config.json', 'run.json', 'train_steps.csv', 'epochs.csv', 'training_curves.png', '*_best.ckpt',
           'ckpt/*.ckpt')
# Set by src/launch/ for the processes it starts: the output folder the launch holds for them.
LAUNCH_HOLDS_OUTPUT_DIR = 'LAUNCH_HOLDS_OUTPUT_DIR'


def check_inputs(cfg):
    """The checks of the folders and files the settings name that need no device: run first, and by the
    data-parallel launcher (src/launch/) before it starts any process. Returns the checkpoint folder."""
    if cfg.resume and not os.path.isfile(cfg.resume):
        raise UsageError(f'--resume {cfg.resume} does not exist')
    if cfg.pre_trained and not os.path.isfile(cfg.checkpoint_path):
        raise UsageError(f'--pre_trained true needs --checkpoint_path to name a checkpoint file; '
                         f'{cfg.checkpoint_path} is {"a folder" if os.path.isdir(cfg.checkpoint_path) else "missing"}')
    from src.data.dataset import check_train_val
    check_train_val(cfg.data_path, cfg.val_data_path if cfg.run_eval else None, cfg.num_classes)
    for option in ('data_path', 'val_data_path') if cfg.run_eval else ('data_path',):
        if is_inside(cfg.output_dir, cfg[option]):
            raise UsageError(f'--output_dir {cfg.output_dir} lies inside --{option} {cfg[option]}, where it would '
                             f'become a class folder of the next run: choose a folder outside it')
    # Every file the run writes goes below these two folders: found unwritable now, not after an epoch.
    check_output_dir(cfg.output_dir, '--output_dir')
    checkpoint_dir = check_output_dir(os.path.join(cfg.output_dir, 'ckpt'), 'the checkpoint folder')
    # The longest name a checkpoint of this run can take (steps per epoch are known only once the data is read).
    check_name_fits(os.path.join(checkpoint_dir, f'{checkpoint_prefix(cfg.arch, cfg.name)}-{cfg.epoch_size}_{10 ** 9}.ckpt'),
                    '--name')
    return checkpoint_dir


def claim_output(cfg):
    """Make --output_dir this run's (src.utils.files.claim_output_dir): a resume from a checkpoint in it continues the
    run there; --overwrite true replaces an earlier run's results, never the checkpoint this run starts from."""
    held = os.environ.get(LAUNCH_HOLDS_OUTPUT_DIR) == os.path.abspath(cfg.output_dir)
    continuing = bool(cfg.resume) and is_inside(cfg.resume, cfg.output_dir)
    start = cfg.resume or (cfg.checkpoint_path if cfg.pre_trained else '')
    if cfg.overwrite and start and is_inside(start, cfg.output_dir) and not continuing:
        raise UsageError(f'--overwrite true would remove the results in --output_dir {cfg.output_dir}, among them '
                         f'{start}, which this run starts from: copy it elsewhere first, or choose another folder')
    removed = claim_output_dir(cfg.output_dir, 'train', results=RESULTS, continuing=continuing,
                               overwrite=cfg.overwrite, held_by_launch=held,
                               continue_hint=', continue that run with --resume CHECKPOINT_IN_IT,')
    if removed:
        print(f'--overwrite true: removed the {len(removed)} result files of the earlier run in {cfg.output_dir}',
              flush=True)

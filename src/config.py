"""Every setting of the repository: one EasyDict of defaults, each key overridable on the command line
of every entry point (`--key value` or `--key=value`), typed, checked, printed and saved with results.

The keys of the original model-zoo port keep their names and meanings; keys it did not have are marked
(new). Importing this module does not import MindSpore, so a bad command line fails in a fraction of a
second.
"""
import argparse
import difflib
import math
import os
import re
import sys

from easydict import EasyDict

from src.errors import OneLineParser, UsageError
from src.files import write_json

DEVICE_TARGETS = ('auto', 'Ascend', 'GPU', 'CPU')

# key: (default, help). The default's type is the key's type.
SETTINGS = {
    # data
    'name': ('imagenet', 'dataset name; part of the checkpoint prefix train_resnet50_bam_<name>'),
    'data_path': ('/data/ILSVRC2012_train/', 'training images, one folder per class'),
    'val_data_path': ('/data/ILSVRC2012_val/', 'validation images, one folder per class'),
    'num_classes': (1000, 'number of classes'),
    'image_height': (224, 'input height in pixels (32 or more)'),
    'image_width': (224, 'input width in pixels (32 or more)'),
    'crop_min_scale': (0.08, '(new) smallest area fraction of the random training crop (recipe: 0.08; tiny '
                               'images learn faster with more)'),
    'color_jitter': (0.4, '(new) brightness, contrast and saturation jitter of training images, hue a quarter of it '
                          '(recipe: 0.4); 0 turns it off'),
    'crop_pct': (0.875, '(new) evaluation: the centre crop\'s share of the resized image (recipe: 0.875, 224 of 256); '
                        '1 keeps the whole image, for sets stored at the input size'),
    'eval_resize': ('opencv', '(new) evaluation resize: opencv (MindSpore\'s fast bilinear, as the C++ app) or pil '
                              '(PIL\'s antialiased bilinear, the authors\' torchvision evaluation pixel for pixel)'),
    'num_parallel_workers': (0, '(new) data-pipeline workers per device; 0 picks from the CPU count'),
    # model
    'base_width': (64, '(new) channels of the first stage; 64 is ResNet-50, smaller keeps depth and structure'),
    'bam_fusion': ('product', '(new) how BAM combines its branches: product (official code) or sum (paper)'),
    'zero_init_residual': (False, '(new) start each bottleneck\'s last BatchNorm scale at zero, so every block '
                                  'begins as its shortcut (the official init uses one); short runs learn faster'),
    'cpu_fast_conv': (True, '(new) on the CPU, compute the convolutions of the smallest maps (2x2 and 1x1: the last '
                            'stages at 32x32) as matrix products over the batch: the same numbers, a faster step; '
                            'false keeps MindSpore\'s Conv2D everywhere. Export never uses them'),
    'pre_trained': (False, 'start training from the weights in --checkpoint_path; a classifier made for another '
                           'number of classes is left out and starts fresh (fine-tuning)'),
    'reset_classifier': (False, '(new) with --pre_trained: start the classifier fresh even when the checkpoint\'s '
                                'has --num_classes outputs (new classes, same count)'),
    'linear_probe': (False, '(new) train only the classifier: every other weight and BatchNorm statistic stays as '
                            'loaded (needs --pre_trained true or --resume)'),
    # optimisation
    'epoch_size': (160, 'training epochs'),
    'batch_size': (128, 'images per device and step'),
    'lr_init': (0.02, 'peak learning rate (0.02 for one device; the original used 0.18 for eight)'),
    'lr_scheduler': ('cosine_annealing', 'learning-rate schedule'),
    'T_max': (0, 'cosine period in epochs after warm-up; 0 means the rest of the run'),
    'eta_min': (0.0, 'learning rate at the end of the cosine'),
    'warmup_epochs': (0, 'epochs of linear warm-up before the cosine'),
    'momentum': (0.9, 'SGD momentum'),
    'weight_decay': (1e-4, 'L2 weight decay (not applied to biases and BatchNorm parameters)'),
    'use_label_smooth': (True, 'label-smoothed cross-entropy'),
    'label_smooth_factor': (0.1, 'label smoothing factor'),
    'amp_level': ('auto', '(new) mixed precision O0|O1|O2|O3; auto picks per device'),
    'loss_scale': (1024, 'loss scale for mixed precision (initial value when dynamic)'),
    'is_dynamic_loss_scale': (True, 'dynamic loss scale on Ascend/GPU (else fixed; both skip overflow steps); '
                                    'the CPU takes a fixed scale'),
    'keep_batchnorm_fp32': (True, '(new) keep BatchNorm in float32 under mixed precision'),
    'seed': (1, '(new) random seed'),
    # run
    'device_target': ('auto', 'Ascend, GPU, CPU, or auto (the first available)'),
    'device_id': (0, 'device to use on a one-device run'),
    'mode': ('graph', '(new) MindSpore execution mode: graph or pynative'),
    'run_distribute': (False, '(new) data-parallel training over the launched workers'),
    'use_dataset_sink': (True, 'feed data through the device sink on Ascend/GPU (the CPU always runs without)'),
    'output_dir': ('./output', '(new) where checkpoints, logs, metrics and the resolved config go'),
    'keep_checkpoint_max': (25, 'checkpoints kept'),
    'save_checkpoint_epochs': (2, '(new) epochs between checkpoints (the last epoch is always saved)'),
    'log_interval': (20, '(new) training steps between progress lines'),
    'resume': ('', '(new) checkpoint to continue an interrupted training run from'),
    'run_eval': (False, '(new) validate during training and keep the best checkpoint'),
    'eval_interval': (1, '(new) epochs between validations'),
    # evaluation and export
    'checkpoint_path': ('./output/ckpt', 'checkpoint file or folder to evaluate (or to start from with --pre_trained)'),
    'ckpt_file': ('', '(new) checkpoint to export'),
    'file_name': ('resnet50_bam', '(new) exported model file name, without extension'),
    'file_format': ('MINDIR', '(new) export format'),
    'dynamic_batch': (True, '(new) export.py: MINDIR and ONNX take any batch; false fixes it to --batch_size (1 by '
                            'default there), the static shape Ascend 310 deployments usually take'),
    # prediction and attention maps (predict.py, attention_map.py)
    'model_file': ('', '(new) predict.py, attention_map.py: a .ckpt checkpoint (or, for predict.py, a .mindir export)'),
    'image_path': ('', '(new) predict.py, attention_map.py: an image, or a folder of images (sub-folders too)'),
    'class_names': ('', '(new) predict.py, attention_map.py: JSON {class folder: readable name} or '
                        '[name of class 0, ...]; empty prints class indices'),
    # benchmark (benchmark.py)
    'bench_steps': (5, '(new) benchmark.py: timed steps (data pipeline: epochs) per figure; the median is reported'),
    'bench_warmup': (2, '(new) benchmark.py: untimed steps after the first, compiling, call'),
    'bench_pipeline_images': (256, '(new) benchmark.py: ImageNet-sized JPEGs per epoch of the data-pipeline figure'),
    'bench_output': ('./output/benchmark.json', '(new) benchmark.py: JSON result file'),
}

CHOICES = {
    'device_target': DEVICE_TARGETS,
    'mode': ('graph', 'pynative'),
    'bam_fusion': ('product', 'sum'),
    'amp_level': ('auto', 'O0', 'O1', 'O2', 'O3'),
    'lr_scheduler': ('cosine_annealing',),
    'file_format': ('MINDIR', 'ONNX', 'AIR'),
    'eval_resize': ('opencv', 'pil'),
}

POSITIVE = ('num_classes', 'epoch_size', 'batch_size', 'keep_checkpoint_max', 'save_checkpoint_epochs',
            'eval_interval', 'log_interval', 'lr_init', 'loss_scale', 'bench_steps', 'bench_pipeline_images')
NON_NEGATIVE = ('num_parallel_workers', 'device_id', 'T_max', 'eta_min', 'warmup_epochs', 'weight_decay', 'seed',
                'bench_warmup')
MIN_IMAGE_SIZE = 32
FILE_NAME_PART = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')


def defaults():
    """A fresh copy of the default configuration."""
    return EasyDict({key: default for key, (default, _) in SETTINGS.items()})


def _to_bool(text):
    lowered = text.strip().lower()
    if lowered in ('1', 'true', 'yes', 'on'):
        return True
    if lowered in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentTypeError(f'expected true or false, got {text!r}')


def build_parser(prog, description, entry_defaults=None):
    parser = OneLineParser(prog=prog, description=description, allow_abbrev=False,
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    entry_defaults = entry_defaults or {}
    for key, (default, help_text) in SETTINGS.items():
        kind = _to_bool if isinstance(default, bool) else type(default)
        parser.add_argument(f'--{key}', type=kind, default=entry_defaults.get(key, default), choices=CHOICES.get(key),
                            metavar=None if key in CHOICES else key.upper(), help=help_text)
    return parser


def validate(cfg):
    """Raise UsageError for values no run can use; ranges that depend on data are checked where data is read."""
    for key, (default, _) in SETTINGS.items():
        if isinstance(default, float) and not math.isfinite(cfg[key]):
            raise UsageError(f'--{key} must be a finite number, got {cfg[key]}')
    if not FILE_NAME_PART.match(cfg.name):
        raise UsageError(f'--name {cfg.name!r} becomes part of file names (train_resnet50_bam_<name>-...): use letters, '
                         f'digits, "_", "-" and "." only, starting with a letter or digit')
    for key in POSITIVE:
        if not cfg[key] > 0:
            raise UsageError(f'--{key} must be positive, got {cfg[key]}')
    for key in NON_NEGATIVE:
        if cfg[key] < 0:
            raise UsageError(f'--{key} must not be negative, got {cfg[key]}')
    for key in ('image_height', 'image_width'):
        if cfg[key] < MIN_IMAGE_SIZE:
            raise UsageError(f'--{key} must be at least {MIN_IMAGE_SIZE} (five stride-2 stages), got {cfg[key]}')
    if cfg.base_width < 4 or cfg.base_width % 4:
        raise UsageError(f'--base_width must be a positive multiple of 4, got {cfg.base_width}')
    if not 0 <= cfg.momentum < 1:
        raise UsageError(f'--momentum must be in [0, 1), got {cfg.momentum}')
    if not 0 < cfg.crop_min_scale <= 1:
        raise UsageError(f'--crop_min_scale must be in (0, 1], got {cfg.crop_min_scale}')
    if not 0 < cfg.crop_pct <= 1:
        raise UsageError(f'--crop_pct must be in (0, 1], got {cfg.crop_pct}')
    if not 0 <= cfg.color_jitter <= 1:
        raise UsageError(f'--color_jitter must be in [0, 1], got {cfg.color_jitter}')
    if not 0 <= cfg.label_smooth_factor < 1:
        raise UsageError(f'--label_smooth_factor must be in [0, 1), got {cfg.label_smooth_factor}')
    if cfg.warmup_epochs >= cfg.epoch_size:
        raise UsageError(f'--warmup_epochs ({cfg.warmup_epochs}) must be smaller than --epoch_size ({cfg.epoch_size})')
    if cfg.reset_classifier and not cfg.pre_trained:
        raise UsageError('--reset_classifier applies to the weights --pre_trained true loads; add it, or drop '
                         '--reset_classifier')
    if cfg.linear_probe and not (cfg.pre_trained or cfg.resume):
        raise UsageError('--linear_probe trains a classifier on top of loaded weights: add --pre_trained true '
                         '--checkpoint_path CKPT (or --resume a linear-probe run)')
    if cfg.eta_min >= cfg.lr_init:
        raise UsageError(f'--eta_min ({cfg.eta_min}) must be smaller than --lr_init ({cfg.lr_init})')


def parse_config(description, argv=None, prog=None, entry_defaults=None):
    """Defaults (with an entry point's own `entry_defaults`) overridden by the command line, validated.
    Exits with status 2 and one line on bad input."""
    prog = prog or os.path.basename(sys.argv[0])
    unknown_defaults = set(entry_defaults or ()) - set(SETTINGS)
    if unknown_defaults:
        raise KeyError(f'entry_defaults names keys that are not settings: {sorted(unknown_defaults)}')
    parser = build_parser(prog, description, entry_defaults)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        word = unknown[0].split('=', 1)[0]
        if not word.startswith('-'):
            parser.error(f'unexpected argument {word!r}; options take the form --key value or --key=value')
        near = difflib.get_close_matches(word.lstrip('-'), SETTINGS, n=1)
        hint = f'; did you mean --{near[0]}?' if near else ''
        parser.error(f'unknown option {word}{hint}')
    cfg = EasyDict(vars(args))
    try:
        validate(cfg)
    except UsageError as error:
        parser.error(str(error))
    return cfg


def format_config(cfg):
    width = max(map(len, cfg))
    return '\n'.join(f'  {key:<{width}} = {value}' for key, value in cfg.items())


def save_config(cfg, directory, file_name='config.json'):
    """Write the resolved configuration next to a run's outputs; returns the file's path."""
    path = os.path.join(directory, file_name)
    write_json(path, cfg, sort_keys=True)
    return path

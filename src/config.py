"""The settings of every command: one table of typed defaults in groups, the keys each command takes, recipe
files, and the command-line parser.

Values resolve in this order, later ones winning: the table's defaults, a recipe file given with `--config FILE`
(YAML, as in MindCV and the MindSpore model zoo; configs/ holds the original recipe and the demo's), the
command's own defaults (export.py's batch of 1, where a recipe's batch_size means the training batch), then
`--key value` options. Each command accepts and
lists in --help only the keys it reads, grouped; a recipe may hold keys of other commands (one file serves
train.py and eval.py), which that command ignores. The keys of the original model-zoo port keep their names
and meanings. Importing this module does not import MindSpore, so a bad command line fails in a fraction of
a second.
"""
import argparse
import difflib
import math
import os
import re
import sys
from dataclasses import dataclass

from easydict import EasyDict

from src.models.family import ARCHS, DEFAULT_ARCH, DEFAULT_STEM, STEMS, width_step
from src.utils.errors import OneLineParser, UsageError, quoted
from src.utils.files import write_json

DEVICE_TARGETS = ('auto', 'Ascend', 'GPU', 'CPU')


@dataclass(frozen=True)
class Setting:
    """One setting, declared once: its default (whose type is the setting's type), its help, and the values it
    takes: one of `choices`; a number `within` a range ('>0', '>=0', '>=32', '[0, 1)', '(0, 1]', ...); a value the
    user must give (`required`: a command that takes it has nothing to work on without it)."""
    default: object
    help: str
    choices: tuple = None
    within: str = None
    required: bool = False

    def problem(self, value):
        """Why `value` cannot be this setting's ('must be positive, got -4'), or None."""
        if isinstance(self.default, float) and not math.isfinite(value):
            return f'must be a finite number, got {value}'
        if self.within is None:
            return None
        bound = re.fullmatch(r'>(=?)(-?[0-9.]+)', self.within)
        if bound:
            inclusive, low = bound.group(1), float(bound.group(2))
            if value > low or (inclusive and value == low):
                return None
            if low == 0:
                return f'must {"not be negative" if inclusive else "be positive"}, got {value}'
            return f'must be {"at least" if inclusive else "more than"} {bound.group(2)}, got {value}'
        opening, low, high, closing = re.fullmatch(r'([\[(])([-0-9.]+), ([-0-9.]+)([\])])', self.within).groups()
        above = value >= float(low) if opening == '[' else value > float(low)
        below = value <= float(high) if closing == ']' else value < float(high)
        return None if above and below else f'must be in {self.within}, got {value}'


GROUPS = {
    'data': 'Data: the image folders and how images are read',
    'model': 'Model: the network and its input',
    'optimisation': 'Optimisation',
    'fine-tuning': 'Starting from trained weights',
    'run': 'Run: device, outputs, checkpoints, validation',
    'export': 'Export (export.py)',
    'inference': 'Inference (predict.py, attention_map.py)',
    'benchmark': 'Benchmark (benchmark.py)',
}

SETTINGS = {
    'data': {
        'name': Setting('imagenet', 'dataset name; part of the checkpoint prefix train_<arch>_<name>'),
        'data_path': Setting('/data/ILSVRC2012_train/', 'training images, one folder per class'),
        'val_data_path': Setting('/data/ILSVRC2012_val/', 'validation images, one folder per class'),
        'crop_min_scale': Setting(0.08, 'smallest area fraction of the random training crop (recipe: 0.08; tiny '
                                        'images learn faster with more)', within='(0, 1]'),
        'color_jitter': Setting(0.4, 'brightness, contrast and saturation jitter of training images, hue a quarter of '
                                     'it (recipe: 0.4); 0 turns it off', within='[0, 1]'),
        'crop_pct': Setting(0.875, "evaluation: the centre crop's share of the resized image (recipe: 0.875, 224 of "
                                   "256); 1 keeps the whole image, for sets stored at the input size", within='(0, 1]'),
        'eval_resize': Setting('opencv', "evaluation resize: opencv (MindSpore's fast bilinear, as the C++ app) or pil "
                                         "(PIL's antialiased bilinear, the authors' torchvision evaluation pixel for "
                                         "pixel)", ('opencv', 'pil')),
        'num_parallel_workers': Setting(0, 'data-pipeline workers per device; 0 picks from the CPU count',
                                        within='>=0'),
    },
    'model': {
        'arch': Setting(DEFAULT_ARCH, 'the network: ResNet-18, 34, 50 or 101, alone, with BAM (_bam) or with CBAM '
                                      '(_cbam)', ARCHS),
        'stem': Setting(DEFAULT_STEM, 'imagenet (7x7 stride-2 convolution and max-pool) or cifar (3x3 stride-1 '
                                      'convolution, no max-pool: for small images)', STEMS),
        'num_classes': Setting(1000, 'number of classes', within='>0'),
        'image_height': Setting(224, 'input height in pixels (32 or more)', within='>=32'),
        'image_width': Setting(224, 'input width in pixels (32 or more)', within='>=32'),
        'batch_size': Setting(128, 'images per step (per device when training)', within='>0'),
        'base_width': Setting(64, 'channels of the first stage; 64 is ResNet-50, smaller keeps depth and structure'),
        'bam_fusion': Setting('product', 'how BAM combines its branches: product (official code) or sum (paper)',
                              ('product', 'sum')),
        'zero_init_residual': Setting(False, "start each bottleneck's last BatchNorm scale at zero, so every block "
                                             "begins as its shortcut (the official init uses one); short runs learn "
                                             "faster"),
        'cpu_fast_conv': Setting(True, 'on the CPU, compute the convolutions of the smallest maps (2x2 and 1x1: the '
                                       'last stages at 32x32) as matrix products over the batch: the same numbers, a '
                                       "faster step; false keeps MindSpore's Conv2D everywhere"),
    },
    'optimisation': {
        'epoch_size': Setting(160, 'training epochs', within='>0'),
        'lr_init': Setting(0.02, 'peak learning rate (0.02 for one device; the original used 0.18 for eight)',
                           within='>0'),
        'lr_scheduler': Setting('cosine_annealing', 'learning rate after the warm-up: cosine_annealing (down to '
                                                    '--eta_min over --T_max epochs), step (times --lr_step_factor '
                                                    'every --lr_step_epochs epochs) or constant (--lr_init)',
                                ('cosine_annealing', 'step', 'constant')),
        'T_max': Setting(0, 'cosine period in epochs after warm-up; 0 means the rest of the run', within='>=0'),
        'eta_min': Setting(0.0, 'learning rate at the end of the cosine', within='>=0'),
        'lr_step_epochs': Setting(30, 'step scheduler: epochs between two cuts of the learning rate', within='>0'),
        'lr_step_factor': Setting(0.1, 'step scheduler: what each cut multiplies the learning rate by',
                                  within='(0, 1]'),
        'warmup_epochs': Setting(0, 'epochs of linear warm-up from 0 to --lr_init', within='>=0'),
        'momentum': Setting(0.9, 'SGD momentum', within='[0, 1)'),
        'weight_decay': Setting(1e-4, 'L2 weight decay (on biases and BatchNorm parameters only with '
                                      '--decay_bn_and_bias true)', within='>=0'),
        'decay_bn_and_bias': Setting(False, "weight decay on biases and BatchNorm parameters too, as the authors' "
                                            "recipe has it; false: on convolution and dense weights only"),
        'use_label_smooth': Setting(True, 'label-smoothed cross-entropy'),
        'label_smooth_factor': Setting(0.1, 'label smoothing factor', within='[0, 1)'),
        'amp_level': Setting('auto', 'mixed precision O0|O1|O2|O3; auto picks per device',
                             ('auto', 'O0', 'O1', 'O2', 'O3')),
        'loss_scale': Setting(1024, 'loss scale for mixed precision (initial value when dynamic)', within='>0'),
        'is_dynamic_loss_scale': Setting(True, 'dynamic loss scale on Ascend/GPU (else fixed; both skip overflow '
                                               'steps); the CPU takes a fixed scale'),
        'keep_batchnorm_fp32': Setting(True, 'keep BatchNorm in float32 under mixed precision'),
    },
    'fine-tuning': {
        'pre_trained': Setting(False, 'start training from the weights in --checkpoint_path; a classifier made for '
                                      'another number of classes is left out and starts fresh (fine-tuning)'),
        'checkpoint_path': Setting('./output/ckpt', 'checkpoint file or folder to evaluate (or to start from with '
                                                    '--pre_trained)'),
        'reset_classifier': Setting(False, "with --pre_trained: start the classifier fresh even when the "
                                           "checkpoint's has --num_classes outputs (new classes, same count)"),
        'linear_probe': Setting(False, 'train only the classifier: every other weight and BatchNorm statistic stays '
                                       'as loaded (needs --pre_trained true or --resume)'),
    },
    'run': {
        'device_target': Setting('auto', 'Ascend, GPU, CPU, or auto (the first available)', DEVICE_TARGETS),
        'device_id': Setting(0, 'device to use on a one-device run', within='>=0'),
        'mode': Setting('graph', 'MindSpore execution mode: graph or pynative', ('graph', 'pynative')),
        'seed': Setting(1, 'random seed', within='>=0'),
        'run_distribute': Setting(False, 'data-parallel training over the launched workers (the scripts set it)'),
        'use_dataset_sink': Setting(True, 'feed data through the device sink on Ascend/GPU (the CPU always runs '
                                          'without)'),
        'output_dir': Setting('./output', 'where checkpoints, logs, metrics and the resolved settings go'),
        'keep_checkpoint_max': Setting(25, 'checkpoints kept', within='>0'),
        'save_checkpoint_epochs': Setting(2, 'epochs between checkpoints (the last epoch is always saved)',
                                          within='>0'),
        'log_interval': Setting(20, 'training steps between progress lines', within='>0'),
        'resume': Setting('', 'checkpoint to continue an interrupted training run from'),
        'run_eval': Setting(False, 'validate during training and keep the best checkpoint'),
        'eval_interval': Setting(1, 'epochs between validations', within='>0'),
        'overwrite': Setting(False, 'replace the results an earlier run left where this one writes (--output_dir, or '
                                    'the file --file_name names); without it such a folder or file is refused. '
                                    'Command line only: recipes and saved settings never hold it'),
    },
    'export': {
        'ckpt_file': Setting('', 'checkpoint to export', required=True),
        'file_name': Setting('resnet50_bam', 'exported model file name, without extension'),
        'file_format': Setting('MINDIR', 'export format', ('MINDIR', 'ONNX', 'AIR')),
        'dynamic_batch': Setting(True, 'MINDIR and ONNX take any batch; false fixes it to --batch_size (1 by '
                                       'default), the static shape Ascend 310 deployments usually take'),
    },
    'inference': {
        'model_file': Setting('', 'a .ckpt checkpoint (or, for predict.py, a .mindir export)', required=True),
        'image_path': Setting('', 'an image, or a folder of images (sub-folders too)', required=True),
        'class_names': Setting('', 'JSON {class folder: readable name} or [name of class 0, ...]; empty prints class '
                                   'indices'),
    },
    'benchmark': {
        'bench_steps': Setting(5, 'timed steps (data pipeline: epochs) per figure; the median is reported',
                               within='>0'),
        'bench_warmup': Setting(2, 'untimed steps after the first, compiling, call', within='>=0'),
        'bench_pipeline_images': Setting(256, 'ImageNet-sized JPEGs per epoch of the data-pipeline figure',
                                         within='>0'),
        'bench_output': Setting('./output/benchmark.json', 'JSON result file'),
    },
}
SETTING = {key: setting for group in SETTINGS.values() for key, setting in group.items()}
GROUP_OF = {key: group for group, settings in SETTINGS.items() for key in settings}

# The keys each command reads. A network is built from NETWORK, on a device set up from DEVICE; preprocessing
# for scoring follows EVAL_PREPROCESSING.
DEVICE = ('device_target', 'device_id', 'mode', 'seed')
NETWORK = ('arch', 'stem', 'num_classes', 'image_height', 'image_width', 'batch_size', 'base_width', 'bam_fusion')
EVAL_PREPROCESSING = ('crop_pct', 'eval_resize')
INFERENCE = (*DEVICE, *NETWORK, *EVAL_PREPROCESSING, *SETTINGS['inference'])
COMMANDS = {
    'train': tuple(key for group in ('data', 'model', 'optimisation', 'fine-tuning', 'run') for key in SETTINGS[group]),
    'eval': (*DEVICE, *NETWORK, 'cpu_fast_conv', 'val_data_path', *EVAL_PREPROCESSING, 'num_parallel_workers',
             'checkpoint_path', 'output_dir', 'overwrite'),
    'export': (*DEVICE, *NETWORK, *SETTINGS['export'], 'overwrite'),
    'predict': INFERENCE,
    'attention_map': (*INFERENCE, 'output_dir', 'overwrite'),
    'benchmark': (*DEVICE, *NETWORK, 'cpu_fast_conv', 'num_parallel_workers', *SETTINGS['optimisation'],
                  *SETTINGS['benchmark']),
    'plots': ('output_dir',),
}

# A choice made on the command line each time: a recipe that replaced earlier results whenever it was repeated
# would lose them without a word.
COMMAND_LINE_ONLY = ('overwrite',)
FILE_NAME_PART = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
TYPE_NAMES = {bool: 'true or false', int: 'a whole number', float: 'a number', str: 'a string'}


def defaults():
    """A fresh copy of every default (all commands' keys)."""
    return EasyDict({key: setting.default for key, setting in SETTING.items()})


def _to_bool(text):
    lowered = text.strip().lower()
    if lowered in ('1', 'true', 'yes', 'on'):
        return True
    if lowered in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentTypeError(f'expected true or false, got {text!r}')


def read_recipe(path):
    """{key: value} of a YAML recipe file, each key a setting and each value of its type (an int for a float
    setting is taken); UsageError naming the file and the key otherwise."""
    if not os.path.isfile(path):
        raise UsageError(f'--config {path} does not exist')
    recipe = _bounded_yaml(path)
    if recipe is None:
        return {}
    if not isinstance(recipe, dict):
        raise UsageError(f'--config {path} must hold "key: value" lines, not a {type(recipe).__name__}')
    for key, value in recipe.items():
        if key not in SETTING:
            near = _nearest(str(key), SETTING)
            hint = f'; did you mean {near}?' if near else ''
            raise UsageError(f'--config {path}: unknown key {quoted(key)}{hint}')
        if key in COMMAND_LINE_ONLY:
            raise UsageError(f'--config {path}: {key} is a command-line choice only (--{key} true); remove it from '
                             f'the recipe')
        setting = SETTING[key]
        kind = type(setting.default)
        if kind is float and isinstance(value, str):
            value = recipe[key] = _yaml_1_1_float(value)  # PyYAML reads 1e-4 (no dot) as a string
        fits = (isinstance(value, kind) and not (kind is int and isinstance(value, bool))) or \
               (kind is float and isinstance(value, int) and not isinstance(value, bool))
        if not fits:
            raise UsageError(f'--config {path}: {key} must be {TYPE_NAMES[kind]}, got {quoted(value)}')
        if setting.choices and value not in setting.choices:
            raise UsageError(f'--config {path}: {key} must be one of {", ".join(setting.choices)}, '
                             f'got {quoted(value)}')
    return {key: float(value) if isinstance(SETTING[key].default, float) else value for key, value in recipe.items()}


# A recipe is a few dozen "key: value" lines of plain values (the shipped ones are about 1 KiB). Far looser bounds
# still stop a broken or hostile file early: 5,000 nested brackets would exhaust Python's recursion limit in
# PyYAML's composer (and cost its scanner seconds), and a few hundred bytes of nested aliases ("billion laughs")
# stand for billions of values, harmless while they are shared but not once a message spells them out.
RECIPE_MAX_BYTES = 64 * 1024
RECIPE_MAX_DEPTH = 8
RECIPE_MAX_ALIASES = 32


def _bounded_yaml(path):
    """The YAML document of the recipe at `path`, or UsageError if the file is larger, nests deeper or uses more
    aliases than a recipe can need (checked on the parser's events, which stop at the first excess, before
    PyYAML builds anything), or is not YAML."""
    import yaml

    try:
        with open(path, 'rb') as handle:
            data = handle.read(RECIPE_MAX_BYTES + 1)
    except OSError as error:
        raise UsageError(f'--config {path} cannot be read ({error.strerror})') from error
    expected = 'a recipe holds "key: value" lines of plain values'
    if len(data) > RECIPE_MAX_BYTES:
        raise UsageError(f'--config {path} is larger than {RECIPE_MAX_BYTES // 1024} KiB; {expected}')
    try:
        text = data.decode('utf-8')
        depth = aliases = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > RECIPE_MAX_DEPTH:
                    raise UsageError(f'--config {path} nests lists or mappings more than {RECIPE_MAX_DEPTH} deep; '
                                     f'{expected}')
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > RECIPE_MAX_ALIASES:
                    raise UsageError(f'--config {path} repeats values through more than {RECIPE_MAX_ALIASES} YAML '
                                     f'aliases (*name); {expected}')
        return yaml.safe_load(text)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise UsageError(f'--config {path} is not YAML: {str(error).splitlines()[0]}') from error


def _yaml_1_1_float(text):
    try:
        return float(text)
    except ValueError:
        return text


def build_parser(prog, description, keys, start):
    """The parser of one command: its keys in their groups, each defaulting to `start[key]`."""
    parser = OneLineParser(prog=prog, description=description, allow_abbrev=False,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--config', metavar='FILE', help='YAML recipe of settings (configs/*.yaml); options given '
                                                          'here override it')
    for group, settings in SETTINGS.items():
        taken = [key for key in settings if key in keys]
        if not taken:
            continue
        section = parser.add_argument_group(GROUPS[group])
        for key in taken:
            setting = settings[key]
            kind = _to_bool if isinstance(setting.default, bool) else type(setting.default)
            section.add_argument(f'--{key}', type=kind, default=start[key], choices=setting.choices,
                                 metavar=None if setting.choices else key.upper(), help=setting.help)
    return parser


def validate(cfg, keys, *, check_required=True):
    """Raise UsageError for values no run can use among the `keys` a command takes: each key's own rule (its
    Setting), a required key left empty (unless not `check_required`), then the rules that tie keys together. Ranges
    that depend on data are checked where the data is read."""
    for key in keys:
        setting = SETTING[key]
        if check_required and setting.required and not cfg[key]:
            raise UsageError(f'--{key} is required: {setting.help}')
        problem = setting.problem(cfg[key])
        if problem:
            raise UsageError(f'--{key} {problem}')
    taken = set(keys)
    if 'name' in taken and not FILE_NAME_PART.match(cfg.name):
        raise UsageError(f'--name {cfg.name!r} becomes part of file names (train_<arch>_<name>-...): use '
                         f'letters, digits, "_", "-" and "." only, starting with a letter or digit')
    if 'base_width' in taken and (cfg.base_width < 1 or cfg.base_width % width_step(cfg.arch)):
        raise UsageError(f'--base_width must be a positive multiple of {width_step(cfg.arch)} for --arch {cfg.arch} '
                         f'(an attention module divides a stage\'s channels by 16), got {cfg.base_width}')
    if {'warmup_epochs', 'epoch_size'} <= taken and cfg.warmup_epochs >= cfg.epoch_size:
        raise UsageError(f'--warmup_epochs ({cfg.warmup_epochs}) must be smaller than --epoch_size ({cfg.epoch_size})')
    if {'eta_min', 'lr_init'} <= taken and cfg.eta_min >= cfg.lr_init:
        raise UsageError(f'--eta_min ({cfg.eta_min}) must be smaller than --lr_init ({cfg.lr_init})')
    if 'reset_classifier' in taken and cfg.reset_classifier and not cfg.pre_trained:
        raise UsageError('--reset_classifier applies to the weights --pre_trained true loads; add it, or drop '
                         '--reset_classifier')
    if 'linear_probe' in taken and cfg.linear_probe and not (cfg.pre_trained or cfg.resume):
        raise UsageError('--linear_probe trains a classifier on top of loaded weights: add --pre_trained true '
                         '--checkpoint_path CKPT (or --resume a linear-probe run)')


def parse_config(description, argv=None, *, command=None, prog=None, entry_defaults=None):
    """The settings of `command` (a key of COMMANDS; None takes every key) resolved from the defaults, the
    --config recipe, the command's `entry_defaults` and the command line, validated. The result holds every key
    (those the command does not take at their defaults), `config` (the recipe's path or '') and `command_keys`.
    Exits with status 2 and one line on bad input."""
    prog = prog or os.path.basename(sys.argv[0])
    keys = COMMANDS[command] if command else tuple(SETTING)
    entry_defaults = entry_defaults or {}
    not_taken = set(entry_defaults) - set(keys)
    if not_taken:
        raise KeyError(f'entry_defaults names keys that {prog} does not take: {sorted(not_taken)}')
    start = defaults()
    recipe_parser = OneLineParser(prog=prog, add_help=False, allow_abbrev=False)
    recipe_parser.add_argument('--config', default='')
    recipe_path = recipe_parser.parse_known_args(argv)[0].config
    try:
        recipe = read_recipe(recipe_path) if recipe_path else {}
    except UsageError as error:
        recipe_parser.error(str(error))
    start.update({key: value for key, value in recipe.items() if key in keys})
    start.update(entry_defaults)
    parser = build_parser(prog, description, keys, start)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        word = unknown[0].split('=', 1)[0]
        if not word.startswith('-'):
            parser.error(f'unexpected argument {word!r}; options take the form --key value or --key=value')
        name = word.lstrip('-')
        if name in SETTING:
            parser.error(f'{prog} does not take {word}: it is a setting of {_commands_taking(name)}')
        near = _nearest(name, keys)
        hint = f'; did you mean --{near}?' if near else ''
        parser.error(f'unknown option {word}{hint}')
    cfg = EasyDict({**start, **vars(args), 'config': recipe_path})
    try:
        validate(cfg, keys, check_required=command is not None)
    except UsageError as error:
        parser.error(str(error))
    cfg.command_keys = keys
    return cfg


def output_dir_of(argv):
    """The --output_dir that a command given `argv` writes to, absolute: the command line's, else its --config
    recipe's, else the default (for the scripts, which keep the command's log there). Bad input exits with status 2:
    the command itself then says what is wrong."""
    parser = OneLineParser(prog='output_dir_of', add_help=False, allow_abbrev=False)
    parser.add_argument('--config', default='')
    parser.add_argument('--output_dir')
    args = parser.parse_known_args(argv)[0]
    if args.output_dir is None:
        try:
            args.output_dir = (read_recipe(args.config) if args.config else {}).get('output_dir',
                                                                                     SETTING['output_dir'].default)
        except UsageError:
            sys.exit(2)
    return os.path.abspath(args.output_dir)


def _nearest(word, names):
    """The name `word` was probably meant to be: a close spelling, else one it starts (lr -> lr_init), else None."""
    close = difflib.get_close_matches(word, names, n=1)
    if close:
        return close[0]
    return next((name for name in names if name.startswith(word)), None)


def _commands_taking(key):
    names = [f'{name}.py' if name != 'plots' else 'src.engine.plots' for name, keys in COMMANDS.items() if key in keys]
    return ', '.join(names)


def command_settings(cfg):
    """The settings the command took, by key (what its output records; the recipe file itself is not needed to
    read them back: the saved JSON is also a valid --config file)."""
    return {key: cfg[key] for key in cfg.get('command_keys', SETTING) if key not in COMMAND_LINE_ONLY}


def format_config(settings):
    width = max(map(len, settings))
    return '\n'.join(f'  {key:<{width}} = {value}' for key, value in settings.items())


def save_config(settings, directory, file_name='config.json'):
    """Write resolved settings next to a run's outputs; returns the file's path."""
    path = os.path.join(directory, file_name)
    write_json(path, settings, sort_keys=True)
    return path

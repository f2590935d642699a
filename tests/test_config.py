"""Settings: the original keys, typed command-line overrides, each command's own keys in groups, recipe files,
one-line errors, saved results."""
import json
import os
import re

import pytest

from conftest import REPO, run_script
from src.config import COMMANDS, GROUP_OF, GROUPS, SETTING, command_settings, defaults, parse_config, save_config
from src.utils.errors import UsageError, run_main

ORIGINAL_KEYS = ('name', 'pre_trained', 'num_classes', 'lr_init', 'batch_size', 'epoch_size', 'momentum',
                 'weight_decay', 'image_height', 'image_width', 'data_path', 'val_data_path', 'device_target',
                 'device_id', 'keep_checkpoint_max', 'checkpoint_path', 'use_label_smooth',
                 'label_smooth_factor', 'lr_scheduler', 'T_max', 'eta_min', 'warmup_epochs', 'loss_scale',
                 'is_dynamic_loss_scale', 'use_dataset_sink')
ENTRY_POINTS = ('train.py', 'eval.py', 'export.py', 'predict.py', 'attention_map.py', 'benchmark.py')
RECIPES = ('imagenet.yaml', 'imagenet_8p.yaml', 'demo.yaml', 'imagenet_bam_authors.yaml', 'imagenet_cbam_authors.yaml')


def test_defaults_carry_the_original_keys_and_recipe():
    cfg = defaults()
    assert set(ORIGINAL_KEYS) <= set(cfg) == set(SETTING)
    assert (cfg.lr_init, cfg.batch_size, cfg.momentum, cfg.weight_decay) == (0.02, 128, 0.9, 1e-4)
    assert (cfg.label_smooth_factor, cfg.keep_checkpoint_max, cfg.loss_scale) == (0.1, 25, 1024)
    assert cfg.bam_fusion == 'product' and cfg.base_width == 64


def test_every_key_is_overridable_with_its_type():
    cfg = parse_config('t', ['--batch_size', '16', '--lr_init=0.5', '--use_label_smooth', 'false',
                             '--is_dynamic_loss_scale', '0', '--device_target', 'CPU', '--name', 'demo'])
    assert cfg.batch_size == 16 and isinstance(cfg.batch_size, int)
    assert cfg.lr_init == 0.5 and isinstance(cfg.lr_init, float)
    assert cfg.use_label_smooth is False and cfg.is_dynamic_loss_scale is False
    assert (cfg.device_target, cfg.name) == ('CPU', 'demo')
    untouched = defaults()
    assert all(cfg[key] == untouched[key] for key in untouched
               if key not in ('batch_size', 'lr_init', 'use_label_smooth', 'is_dynamic_loss_scale',
                              'device_target', 'name'))


def test_entry_defaults_change_only_their_keys():
    cfg = parse_config('t', [], entry_defaults={'batch_size': 1})
    assert cfg.batch_size == 1 and cfg.lr_init == defaults().lr_init
    assert parse_config('t', ['--batch_size', '8'], entry_defaults={'batch_size': 1}).batch_size == 8
    with pytest.raises(KeyError):
        parse_config('t', [], entry_defaults={'no_such_key': 1})


@pytest.mark.parametrize('argv, message', [
    (['--device_target', 'TPU'], "invalid choice: 'TPU'"),
    (['--bach_size', '4'], 'unknown option --bach_size; did you mean --batch_size?'),
    (['--batch_size', '-4'], '--batch_size must be positive, got -4'),
    (['--batch_size', 'four'], "invalid int value: 'four'"),
    (['--use_label_smooth', 'maybe'], "expected true or false, got 'maybe'"),
    (['--checkpoint_path', '=', './ckpt'], "unexpected argument './ckpt'; options take the form"),
    (['--image_height', '16'], '--image_height must be at least 32'),
    (['--base_width', '10'], '--base_width must be a positive multiple of 4'),
    (['--momentum', '1.0'], '--momentum must be in [0, 1)'),
    (['--color_jitter', '1.5'], '--color_jitter must be in [0, 1], got 1.5'),
    (['--crop_pct', '0'], '--crop_pct must be in (0, 1], got 0.0'),
    (['--crop_pct', '1.2'], '--crop_pct must be in (0, 1], got 1.2'),
    (['--warmup_epochs', '5', '--epoch_size', '5'], 'must be smaller than --epoch_size'),
    (['--batch'], 'unknown option --batch'),  # no silent abbreviations
])
def test_bad_values_exit_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config('t', argv, prog='prog.py')
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('prog.py: error: ')
    assert message in err


def test_run_main_turns_usage_errors_into_one_line(capsys):
    def main():
        raise UsageError('data_path /nowhere does not exist')
    with pytest.raises(SystemExit) as exit_info:
        run_main(main)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith('error: data_path /nowhere does not exist\n')


def test_saved_settings_are_a_recipe_that_repeats_the_run(tmp_path):
    cfg = parse_config('t', ['--epoch_size', '3', '--weight_decay', '5e-05', '--overwrite', 'true'], command='train')
    path = save_config(command_settings(cfg), str(tmp_path / 'run'))
    with open(path, encoding='utf-8') as handle:
        assert json.load(handle) == {key: cfg[key] for key in COMMANDS['train'] if key != 'overwrite'}
    again = parse_config('t', ['--config', path], command='train')
    assert all(again[key] == cfg[key] for key in SETTING if key != 'overwrite') and again.weight_decay == 5e-05
    assert not again.overwrite  # replacing results is asked for each time, never repeated by a recipe


def test_a_recipe_cannot_ask_to_overwrite(tmp_path, capsys):
    recipe = tmp_path / 'recipe.yaml'
    recipe.write_text('overwrite: true\n')
    with pytest.raises(SystemExit):
        parse_config('t', ['--config', str(recipe)], command='train')
    assert 'overwrite is a command-line choice only (--overwrite true); remove it from the recipe' in \
        capsys.readouterr().err


def help_keys(text):
    return set(re.findall(r'^  --([a-zA-Z0-9_]+)', text, flags=re.M)) - {'help', 'config'}


@pytest.mark.parametrize('script', ENTRY_POINTS)
def test_each_command_lists_only_its_own_settings_in_groups(script):
    result = run_script(script, '--help', timeout=120)
    assert result.returncode == 0, result.stderr
    keys = COMMANDS[script[:-3]]
    assert help_keys(result.stdout) == set(keys)
    titles = [title for group, title in GROUPS.items() if any(key in keys for key in SETTING_GROUPS[group])]
    positions = [result.stdout.index(f'{title}:') for title in titles]
    assert positions == sorted(positions)
    assert '(new)' not in result.stdout and '--config FILE' in result.stdout


SETTING_GROUPS = {group: [key for key in SETTING if GROUP_OF[key] == group] for group in GROUPS}


def test_a_command_refuses_the_settings_of_another_by_name(capsys):
    with pytest.raises(SystemExit):
        parse_config('t', ['--lr_init', '0.1'], command='eval', prog='eval.py')
    assert capsys.readouterr().err == ('eval.py: error: eval.py does not take --lr_init: it is a setting of '
                                       'train.py, benchmark.py (see --help)\n')


def test_recipe_then_command_line_override_the_defaults(tmp_path):
    recipe = tmp_path / 'recipe.yaml'
    recipe.write_text('lr_init: 0.1\nweight_decay: 1e-4\nepoch_size: 7\nbench_steps: 9\n')
    cfg = parse_config('t', ['--config', str(recipe), '--epoch_size', '3'], command='train')
    assert (cfg.lr_init, cfg.weight_decay, cfg.epoch_size, cfg.config) == (0.1, 1e-4, 3, str(recipe))
    # A key of another command (bench_steps) is left to that command.
    assert cfg.bench_steps == defaults().bench_steps
    assert parse_config('t', ['--config', str(recipe)], command='benchmark').bench_steps == 9
    # A command's own default stands: a recipe's batch_size is the training batch, export.py's is 1.
    recipe.write_text('batch_size: 8\n')
    assert parse_config('t', ['--config', str(recipe), '--ckpt_file', 'model.ckpt'], command='export',
                        entry_defaults={'batch_size': 1}).batch_size == 1
    assert parse_config('t', ['--config', str(recipe)], command='eval').batch_size == 8


@pytest.mark.parametrize('content, message', [
    ('lr: 0.1\n', "unknown key 'lr'; did you mean lr_init?"),
    ('epoch_size: 2.5\n', 'epoch_size must be a whole number, got 2.5'),
    ('run_eval: maybe\n', "run_eval must be true or false, got 'maybe'"),
    ('batch_size: true\n', 'batch_size must be a whole number, got True'),
    ('lr_init: fast\n', "lr_init must be a number, got 'fast'"),
    ('amp_level: O4\n', "amp_level must be one of auto, O0, O1, O2, O3, got 'O4'"),
    ('- lr_init\n', 'must hold "key: value" lines, not a list'),
    ('lr_init: [0.1\n', 'is not YAML'),
    ('batch_size: -4\n', '--batch_size must be positive, got -4'),
])
def test_a_bad_recipe_is_one_line_naming_the_key(content, message, tmp_path, capsys):
    recipe = tmp_path / 'recipe.yaml'
    recipe.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        parse_config('t', ['--config', str(recipe)], command='train', prog='train.py')
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count('\n') == 1 and message in err, err


def test_a_missing_recipe_is_one_line(capsys):
    with pytest.raises(SystemExit):
        parse_config('t', ['--config', '/no/such.yaml'], command='train', prog='train.py')
    assert capsys.readouterr().err == 'train.py: error: --config /no/such.yaml does not exist (see --help)\n'


@pytest.mark.parametrize('recipe', RECIPES)
def test_the_shipped_recipes_load_for_every_command(recipe):
    path = os.path.join(REPO, 'configs', recipe)
    for command in COMMANDS:
        required = [argument for key in COMMANDS[command] if SETTING[key].required for argument in (f'--{key}', 'x')]
        parse_config('t', ['--config', path, *required], command=command)


@pytest.mark.parametrize('attention', ['bam', 'cbam'])
def test_the_authors_recipes_are_theirs(attention):
    cfg = parse_config('t', ['--config', os.path.join(REPO, 'configs', f'imagenet_{attention}_authors.yaml')],
                       command='train')
    assert (cfg.arch, cfg.stem, cfg.batch_size, cfg.lr_init, cfg.epoch_size) == (f'resnet50_{attention}', 'imagenet',
                                                                                 256, 0.1, 100)
    assert (cfg.lr_scheduler, cfg.lr_step_epochs, cfg.lr_step_factor, cfg.warmup_epochs) == ('step', 30, 0.1, 0)
    assert (cfg.momentum, cfg.weight_decay, cfg.decay_bn_and_bias) == (0.9, 1e-4, True)
    assert (cfg.use_label_smooth, cfg.color_jitter, cfg.crop_min_scale, cfg.eval_resize) == (False, 0.0, 0.08, 'pil')


def test_the_eight_device_recipe_is_the_originals():
    cfg = parse_config('t', ['--config', os.path.join(REPO, 'configs', 'imagenet_8p.yaml')], command='train')
    assert (cfg.lr_init, cfg.batch_size, cfg.epoch_size, cfg.num_classes, cfg.image_height) == (0.18, 128, 160, 1000,
                                                                                                224)


@pytest.mark.parametrize('argv, message', [
    (['--device_target', 'TPU'], "invalid choice: 'TPU'"),
    (['--no_such_key', '1'], 'unknown option --no_such_key'),
    (['--batch_size', '-16'], '--batch_size must be positive, got -16'),
])
@pytest.mark.parametrize('script', ENTRY_POINTS)
def test_entry_points_reject_bad_input_in_one_line(script, argv, message):
    result = run_script(script, *argv, timeout=120)
    assert result.returncode == 2
    assert result.stderr == f'{script}: error: {result.stderr.split("error: ", 1)[1]}'
    assert result.stderr.count('\n') == 1 and message in result.stderr


def test_a_command_checks_only_the_settings_it_takes(tmp_path):
    """One recipe serves several commands: a key only the benchmark reads is checked by the benchmark alone, and a
    required key only by the commands that take it."""
    recipe = tmp_path / 'recipe.yaml'
    recipe.write_text('bench_steps: 0\n')
    assert parse_config('t', ['--config', str(recipe)], command='train').epoch_size == defaults().epoch_size
    with pytest.raises(SystemExit):
        parse_config('t', ['--config', str(recipe)], command='benchmark')
    assert not parse_config('t', [], command='eval').get('ckpt_file')


@pytest.mark.parametrize('within, good, bad, message', [
    ('>0', [1, 0.5], [0, -1], 'must be positive, got 0'),
    ('>=0', [0, 3], [-1], 'must not be negative, got -1'),
    ('>=32', [32, 224], [31], 'must be at least 32, got 31'),
    ('[0, 1)', [0, 0.9], [1, -0.1], 'must be in [0, 1), got 1'),
    ('(0, 1]', [1, 0.5], [0, 1.5], 'must be in (0, 1], got 0'),
])
def test_each_setting_declares_the_values_it_takes(within, good, bad, message):
    from src.config import Setting
    setting = Setting(1.0, 'a number', within=within)
    assert all(setting.problem(value) is None for value in good)
    assert setting.problem(bad[0]) == message and all(setting.problem(value) for value in bad)
    assert Setting(1.0, 'a number').problem(float('nan')) == 'must be a finite number, got nan'

"""Configuration: the original keys, typed command-line overrides, one-line errors, saved results."""
import json

import pytest

from conftest import run_script
from src.config import SETTINGS, defaults, parse_config, save_config
from src.errors import UsageError, run_main

ORIGINAL_KEYS = ('name', 'pre_trained', 'num_classes', 'lr_init', 'batch_size', 'epoch_size', 'momentum',
                 'weight_decay', 'image_height', 'image_width', 'data_path', 'val_data_path', 'device_target',
                 'device_id', 'keep_checkpoint_max', 'checkpoint_path', 'use_label_smooth',
                 'label_smooth_factor', 'lr_scheduler', 'T_max', 'eta_min', 'warmup_epochs', 'loss_scale',
                 'is_dynamic_loss_scale', 'use_dataset_sink')
ENTRY_POINTS = ('train.py', 'eval.py', 'export.py', 'predict.py', 'attention_map.py')


def test_defaults_carry_the_original_keys_and_recipe():
    cfg = defaults()
    assert set(ORIGINAL_KEYS) <= set(cfg)
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


def test_saved_config_round_trips(tmp_path):
    cfg = parse_config('t', ['--epoch_size', '3'])
    path = save_config(cfg, str(tmp_path / 'run'))
    with open(path, encoding='utf-8') as handle:
        assert json.load(handle) == dict(cfg)


@pytest.mark.parametrize('script', ENTRY_POINTS)
def test_every_entry_point_accepts_every_key(script):
    result = run_script(script, '--help', timeout=120)
    assert result.returncode == 0, result.stderr
    missing = [key for key in SETTINGS if f'--{key}' not in result.stdout]
    assert not missing


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

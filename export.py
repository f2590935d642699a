"""Export a ResNet50-BAM checkpoint to MINDIR, ONNX or AIR, then check the file against the checkpoint.

  python export.py --ckpt_file CKPT [--file_format MINDIR|ONNX|AIR] [--file_name NAME] [--batch_size B]
                   [--dynamic_batch true|false] [--image_height H --image_width W]
                   [--num_classes N --base_width W --bam_fusion F] [--device_target auto|Ascend|GPU|CPU]

The network is built from --num_classes, --base_width and --bam_fusion, which must match the checkpoint.
The file is NAME.mindir, NAME.onnx or NAME.air; it takes float32 (batch, 3, H, W) images normalised as
in evaluation and gives (batch, num_classes) logits.

What --batch_size means:
  MINDIR, ONNX  with --dynamic_batch true (the default) the batch dimension is dynamic: the file runs at any
                batch. It is checked at batch 1 and 3, and also at --batch_size when that is another value.
                With --dynamic_batch false the batch is fixed to --batch_size (default 1), the static shape an
                Ascend 310 deployment usually takes (scripts/run_infer_310.sh expects batch 1); it is checked
                at that batch.
  AIR           the batch is fixed to --batch_size (Ascend's model converter needs a static shape). AIR is
                written only by MindSpore's Ascend backend, and cannot be run in Python to be checked.

MINDIR is checked by loading it back (`mindspore.load` + `nn.GraphCell`), ONNX in ONNX Runtime (a requirement
of the repository, so every ONNX file is run before it is kept): the largest difference from the checkpoint's network is printed for each batch, and a file
that differs by more than a tolerance is not kept. The export is written under a temporary name and
renamed into place after the check, so NAME.<ext> is never a partial or unchecked file. An existing NAME.<ext> is
replaced only with --overwrite true, and two exports to one name at once are refused.
"""
from src.utils.interrupts import answer_signals_if_main, report_kept

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import os

from src.config import parse_config
from src.deploy.export import (ExportCheckFailed, export_and_check, import_onnxruntime, output_path,
                               require_ascend_for_air)
from src.deploy.inference import network_from_checkpoint
from src.utils.device import setup_device
from src.utils.errors import UsageError, run_main
from src.utils.files import check_not_an_input, hold_output_file


def main():
    cfg = parse_config(__doc__, command='export', entry_defaults={'batch_size': 1})
    if not os.path.isfile(cfg.ckpt_file):
        raise UsageError(f'--ckpt_file {cfg.ckpt_file} does not exist')
    path = output_path(cfg.file_name, cfg.file_format)
    check_not_an_input(path, {'--ckpt_file': cfg.ckpt_file}, '--file_name')
    hold_output_file(path, '--file_name', cfg.overwrite)
    report_kept(lambda: f'{path} was not written')
    if cfg.file_format == 'ONNX':
        import_onnxruntime()  # before the export, which would otherwise be thrown away unchecked
    if cfg.file_format == 'AIR':
        require_ascend_for_air(cfg.device_target)
    device = setup_device(cfg)
    net = network_from_checkpoint(cfg, cfg.ckpt_file)
    batch = 'dynamic batch' if cfg.dynamic_batch and cfg.file_format != 'AIR' else f'batch {cfg.batch_size}'
    print(f'Exporting {cfg.ckpt_file} ({cfg.num_classes} classes, base width {cfg.base_width}, '
          f'{cfg.bam_fusion} fusion) to {cfg.file_format}, input ({batch}, 3, {cfg.image_height}, '
          f'{cfg.image_width}), on {device.target}')
    try:
        export_and_check(net, cfg, path)
    except ExportCheckFailed as error:
        raise SystemExit(f'export.py: error: {error}; {path} was not written') from error
    print(f'Exported {path}')


if __name__ == '__main__':
    run_main(main)

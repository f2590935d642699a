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
from src.interrupts import answer_signals_if_main, report_kept

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/interrupts.py

import logging
import os
import re

import numpy as np

from src.config import parse_config
from src.errors import UsageError, run_main
from src.files import check_name_fits, check_not_an_input, check_output_dir, hold_output_file, written_atomically
from src.device import resolve_target, setup_device
from src.inference import largest_difference, logits, network_from_checkpoint, network_from_mindir
from src.mindspore_log import mindspore_log_kept

EXTENSIONS = {'MINDIR': '.mindir', 'ONNX': '.onnx', 'AIR': '.air'}
CHECK_BATCHES = (1, 3)
# Largest |exported - checkpoint| over the largest |logit|. MindSpore runs a MINDIR with the same kernels
# as the network; ONNX Runtime has its own kernels and summation order.
TOLERANCE = {'MINDIR': 1e-5, 'ONNX': 1e-4}
ONNX_INPUT, ONNX_OUTPUT = 'input', 'logits'
# MindSpore refuses other characters in export file names.
MINDSPORE_FILE_NAME = re.compile(r'^[0-9a-zA-Z@_\-.:/\\]+$')


class ExportCheckFailed(Exception):
    """The exported file does not reproduce the checkpoint's network."""


def output_path(file_name, file_format):
    """NAME -> NAME.<ext> (NAME may already end in it, in any case), as an absolute path MindSpore accepts."""
    extension = EXTENSIONS[file_format]
    stem = file_name[:-len(extension)] if file_name.lower().endswith(extension) else file_name
    path = os.path.abspath(stem + extension)
    if os.path.isdir(path):
        raise UsageError(f'--file_name {file_name}: {path} is a folder')
    if not MINDSPORE_FILE_NAME.match(path):
        raise UsageError(f'--file_name {file_name}: MindSpore writes only paths of letters, digits and @ _ - . : /; '
                         f'{path} has others')
    check_output_dir(os.path.dirname(path), '--file_name\'s folder')
    check_name_fits(path, '--file_name')
    return path


def require_ascend_for_air(requested_target):
    """AIR is the Ascend graph format: only MindSpore's Ascend backend writes it."""
    try:
        target = resolve_target(requested_target)
    except UsageError:
        target = None
    if target != 'Ascend':
        where = ('this machine has no Ascend device or this MindSpore build lacks the Ascend backend'
                 if requested_target in ('auto', 'Ascend') else f'--device_target is {requested_target}')
        raise UsageError(f'--file_format AIR needs MindSpore\'s Ascend backend ({where}); '
                         f'export MINDIR or ONNX here, or run on an Ascend machine')


def example_input(cfg, batch):
    import mindspore as ms
    return ms.Tensor(np.zeros((batch, 3, cfg.image_height, cfg.image_width), dtype=np.float32))


def mindir_input(cfg):
    """The input MINDIR is traced with: a batch of None is dynamic."""
    import mindspore as ms
    if not cfg.dynamic_batch:
        return example_input(cfg, cfg.batch_size)
    return ms.Tensor(shape=[None, 3, cfg.image_height, cfg.image_width], dtype=ms.float32)


def write_mindir(net, cfg, path):
    import mindspore as ms
    # MindSpore appends the extension itself.
    ms.export(net, mindir_input(cfg), file_name=path[:-len(EXTENSIONS['MINDIR'])], file_format='MINDIR')


def write_onnx(net, cfg, path):
    import mindspore as ms
    batch_axis = {ONNX_INPUT: {0: 'batch'}, ONNX_OUTPUT: {0: 'batch'}} if cfg.dynamic_batch else None
    ms.onnx.export(net, example_input(cfg, 1 if cfg.dynamic_batch else cfg.batch_size), file_name=path,
                   input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT], dynamic_axes=batch_axis)


def declare_dynamic_output_batch(path):
    """MindSpore applies dynamic_axes to the inputs only and declares the output with the example's batch of
    1; runtimes that trust the declaration (ONNX Runtime warns at batch 3) need the symbolic batch."""
    import onnx
    model = onnx.load(path)
    for output in model.graph.output:
        batch_dim = output.type.tensor_type.shape.dim[0]
        batch_dim.ClearField('dim_value')
        batch_dim.dim_param = 'batch'
    onnx.checker.check_model(model)
    onnx.save(model, path)


def write_air(net, cfg, path):
    import mindspore as ms
    ms.export(net, example_input(cfg, cfg.batch_size), file_name=path[:-len(EXTENSIONS['AIR'])], file_format='AIR')


WRITERS = {'MINDIR': write_mindir, 'ONNX': write_onnx, 'AIR': write_air}


def mindir_runner(path):
    graph_cell = network_from_mindir(path)
    return lambda images: logits(graph_cell, images)


def import_onnxruntime():
    """ONNX Runtime, which checks every ONNX export; a UsageError saying how to install it if it is missing."""
    try:
        import onnxruntime
    except ImportError as error:
        raise UsageError('checking an ONNX export needs ONNX Runtime, which is not installed: pip install onnxruntime '
                         '(it is in requirements.txt)') from error
    return onnxruntime


def onnx_runner(path):
    """ONNX Runtime on the file."""
    session = import_onnxruntime().InferenceSession(path, providers=['CPUExecutionProvider'])
    return lambda images: session.run([ONNX_OUTPUT], {ONNX_INPUT: images})[0]


def check_batches(cfg):
    """The batches an export is checked at: a fixed batch is the only one it takes."""
    return sorted(set(CHECK_BATCHES) | {cfg.batch_size}) if cfg.dynamic_batch else [cfg.batch_size]


def check_export(net, run_exported, cfg, tolerance):
    """Compare the exported file with the network at each check batch and print the differences; raise
    ExportCheckFailed beyond the tolerance."""
    batches = check_batches(cfg)
    rng = np.random.default_rng(cfg.seed)
    for batch in batches:
        images = rng.standard_normal((batch, 3, cfg.image_height, cfg.image_width), dtype=np.float32)
        expected = logits(net, images)
        got = np.asarray(run_exported(images))
        if got.shape != expected.shape:
            raise ExportCheckFailed(f'at batch {batch} the export gives logits of shape {got.shape}, '
                                    f'the checkpoint {expected.shape}')
        largest, relative = largest_difference(got, expected)
        print(f'  batch {batch}: max |difference| {largest:.3g}, {relative:.3g} of the largest logit')
        if not relative <= tolerance:
            raise ExportCheckFailed(f'at batch {batch} the export differs from the checkpoint by {relative:.3g} '
                                    f'of the largest logit (tolerance {tolerance:g})')


def export_and_check(net, cfg, path):
    """Write the export to a temporary name, check it, then rename it to `path`."""
    with written_atomically(path) as partial:
        with mindspore_log_kept(logging.ERROR) as errors:  # MindSpore logs some write errors instead of raising
            WRITERS[cfg.file_format](net, cfg, partial)
        if not os.path.isfile(partial):
            raise UsageError(f'cannot write {path}: {errors[-1] if errors else "MindSpore wrote no file"}; '
                             f'nothing was written')
        if cfg.file_format == 'MINDIR':
            print('Checking with mindspore.load + nn.GraphCell against the checkpoint:')
            check_export(net, mindir_runner(partial), cfg, TOLERANCE['MINDIR'])
        elif cfg.file_format == 'ONNX':
            if cfg.dynamic_batch:
                declare_dynamic_output_batch(partial)
            print('Checking with ONNX Runtime against the checkpoint:')
            check_export(net, onnx_runner(partial), cfg, TOLERANCE['ONNX'])
        else:
            print('AIR cannot be run in Python: convert it with ATC on the Ascend machine')


def main():
    cfg = parse_config(__doc__, command='export', entry_defaults={'batch_size': 1})
    if not cfg.ckpt_file:
        raise UsageError('--ckpt_file is required: the checkpoint to export')
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
    setup_device(cfg)
    net = network_from_checkpoint(cfg, cfg.ckpt_file)
    batch = 'dynamic batch' if cfg.dynamic_batch and cfg.file_format != 'AIR' else f'batch {cfg.batch_size}'
    print(f'Exporting {cfg.ckpt_file} ({cfg.num_classes} classes, base width {cfg.base_width}, '
          f'{cfg.bam_fusion} fusion) to {cfg.file_format}, input ({batch}, 3, {cfg.image_height}, '
          f'{cfg.image_width}), on {cfg.device_target}')
    try:
        export_and_check(net, cfg, path)
    except ExportCheckFailed as error:
        raise SystemExit(f'export.py: error: {error}; {path} was not written') from error
    print(f'Exported {path}')


if __name__ == '__main__':
    run_main(main)

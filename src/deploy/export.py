"""Exports of the network to MINDIR, ONNX or AIR, each checked against the network it came from before it is kept
(export.py is the command): the file's name, the writers, the check at several batches, and the file renamed into
place only once it passed."""
import logging
import os
import re

import numpy as np

from src.deploy.inference import largest_difference, logits, network_from_mindir
from src.utils.device import resolve_target
from src.utils.errors import UsageError
from src.utils.files import check_name_fits, check_output_dir, written_atomically
from src.utils.mindspore_log import mindspore_log_kept

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

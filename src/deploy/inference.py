"""Classifying images in Python, as predict.py and attention_map.py do: the images of --image_path and their
evaluation preprocessing; networks ready to classify (the network of a checkpoint, built from the configuration,
or an exported MINDIR; both take a float32 NCHW numpy batch through `logits` and give float32 numpy logits); and
the most probable classes, named from --class_names."""
import os
import sys

import numpy as np

from src.data.dataset import EVAL_CROP_PCT, eval_transforms
from src.data.image_folder import describe_unreadable, image_problem, split_readable
from src.engine.metrics import top_k
from src.utils.errors import UsageError, first_line
from src.utils.files import read_json
from src.utils.mindspore_log import native_stderr_kept

TOP_CLASSES = 5


def read_class_names(path):
    """Class names by index from --class_names, or None when it is not given."""
    if not path:
        return None
    mapping = read_json(path, '--class_names')
    # Training indexes classes by sorted folder name, so a folder -> name mapping gives names by index.
    names = [mapping[folder] for folder in sorted(mapping)] if isinstance(mapping, dict) else mapping
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise UsageError(f'--class_names {path} must hold {{class folder: name}} or a list of names, all strings')
    return names


def list_images(path):
    """(image paths to classify, what to print for each): the file itself, or a folder's visible files
    (recursively, sorted) named relative to it. Files that cannot be decoded are skipped with a report."""
    if os.path.isfile(path):
        problem = image_problem(path)
        if problem:
            raise UsageError(f'--image_path {path} cannot be classified: {problem}')
        return [path], [path]
    if os.path.islink(path) and not os.path.exists(path):
        raise UsageError(f'--image_path {path} cannot be followed (a symbolic link that loops or whose target is '
                         f'missing)')
    if not os.path.isdir(path):
        raise UsageError(f'--image_path {path} does not exist')
    files = sorted(os.path.join(root, name) for root, folders, names in os.walk(path)
                   for name in names if not name.startswith('.'))
    readable, unreadable = split_readable([(file, None) for file in files])
    if unreadable:
        print(describe_unreadable(unreadable, len(files), path))
    if not readable:
        raise UsageError(f'--image_path {path} holds no images MindSpore can decode')
    images = [file for file, _ in readable]
    return images, [os.path.relpath(image, path) for image in images]


def preprocess(path, height, width, *, crop_pct=EVAL_CROP_PCT, resize='opencv'):
    """The (3, H, W) float32 input of one image, as evaluation makes it."""
    image = np.fromfile(path, dtype=np.uint8)
    for transform in eval_transforms(height, width, crop_pct, resize):
        image = transform(image)
    return image


def top_classes(row, class_names):
    """'name probability, ...' for the TOP_CLASSES most probable classes of one row of logits (all of them
    when there are fewer)."""
    probabilities = np.exp(row - row.max())
    probabilities /= probabilities.sum()
    best = top_k(probabilities, min(TOP_CLASSES, len(probabilities)))
    label = (lambda index: class_names[index]) if class_names else (lambda index: f'class {index}')
    return ', '.join(f'{label(index)} {probabilities[index]:.3f}' for index in best)


def network_from_checkpoint(cfg, path):
    """The network of cfg's arch, stem, num_classes, base_width and bam_fusion with the weights of `path` (which
    must hold that network), in inference mode."""
    from src.engine.checkpoint import load_weights
    from src.models import create_model

    net = create_model(arch=cfg.arch, stem=cfg.stem, num_classes=cfg.num_classes, base_width=cfg.base_width,
                       fusion=cfg.bam_fusion)  # as exported: without the CPU's small-map forms
    load_weights(net, path)
    net.set_train(False)
    return net


def network_from_mindir(path):
    """A MINDIR export as a callable cell (`mindspore.load` + `nn.GraphCell`), or a UsageError naming the file."""
    import mindspore as ms

    if not os.path.isfile(path):
        raise UsageError(f'MINDIR file {path} does not exist')
    try:
        with native_stderr_kept() as messages:
            graph = ms.load(path)
        sys.stderr.write(''.join(f'{line}\n' for line in messages))  # a file that loads keeps its warnings
    except (RuntimeError, ValueError, OSError) as error:
        reason = first_line(error)
        raise UsageError(f'cannot read {path}: not a MINDIR export, or truncated ({reason})') from error
    return ms.nn.GraphCell(graph)


def logits(net, images):
    """Run `net` on a float32 (N, 3, H, W) array; returns the (N, num_classes) logits as numpy."""
    import mindspore as ms

    return net(ms.Tensor(np.ascontiguousarray(images, dtype=np.float32))).asnumpy()


def largest_difference(got, expected):
    """(largest |got - expected|, the same over the largest |expected|): how far one network's logits are from
    another's, absolute and relative to the logits' scale."""
    largest = float(np.abs(got - expected).max())
    return largest, largest / max(float(np.abs(expected).max()), np.finfo(np.float32).tiny)

"""Networks ready to classify: the network of a checkpoint, built from the configuration, or an exported MINDIR.
Both take a float32 NCHW numpy batch through `logits` and give float32 numpy logits."""
import os
import sys

import numpy as np

from src.errors import UsageError
from src.mindspore_log import native_stderr_kept


def network_from_checkpoint(cfg, path):
    """ResNet50-BAM with cfg's num_classes, base_width and bam_fusion, the weights of `path`, in inference mode."""
    from src.checkpoint import load_weights
    from src.ResNet50_BAM import resnet50_bam

    net = resnet50_bam(num_classes=cfg.num_classes, base_width=cfg.base_width, fusion=cfg.bam_fusion)
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
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
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

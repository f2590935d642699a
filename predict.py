"""Top-5 classes of an image, or of every image in a folder, with a checkpoint or a MINDIR export: the
Python route for machines without the C++ inference app.

  python predict.py --model_file MODEL.ckpt|MODEL.mindir --image_path IMAGE_OR_FOLDER [--class_names FILE]
                    [--image_height H --image_width W --crop_pct P] [--num_classes N --base_width W --bam_fusion F]
                    [--batch_size B (images per forward pass, default 16)] [--device_target ...]

Images get the evaluation preprocessing of src/data/dataset.py (resize the shorter side to
eval_resize_size(H, W, --crop_pct), centre-crop H x W, normalise). A checkpoint is built into the network that
--num_classes, --base_width and --bam_fusion describe; a MINDIR carries its network, but needs the
--image_height/--image_width it was exported with. --class_names is a JSON file: {class folder: name}
(src.data.demo_data writes one; classes are indexed by sorted folder name, as in training) or a list of names
by class index. Without it classes print as indices. One line per image:
  <image>: <class> <probability>, ... (five classes, most probable first)
Files in a folder that are not decodable images are skipped and reported.
"""
from src.utils.interrupts import answer_signals_if_main

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import os

import numpy as np

from src.config import parse_config
from src.utils.device import setup_device
from src.utils.errors import UsageError, first_line, run_main
from src.deploy.inference import (list_images, logits, network_from_checkpoint, network_from_mindir, preprocess,
                           read_class_names, top_classes)
from src.utils.progress import Progress

MODEL_KINDS = ('.ckpt', '.mindir')


def load_classifier(cfg):
    """A function from a float32 (N, 3, H, W) batch to its logits, for --model_file."""
    path = cfg.model_file
    kind = os.path.splitext(path)[1].lower()
    if kind not in MODEL_KINDS:
        raise UsageError(f'--model_file {path} must end in .ckpt or .mindir (ONNX runs in the C++ app)')
    if kind == '.ckpt':
        net = network_from_checkpoint(cfg, path)
        return lambda images: logits(net, images)
    graph_cell = network_from_mindir(path)

    def classify(images):
        try:
            return logits(graph_cell, images)
        except RuntimeError as error:
            raise UsageError(f'{path} does not take {cfg.image_height}x{cfg.image_width} images; pass the '
                             f'--image_height/--image_width it was exported with ({first_line(error)})'
                             ) from error
    return classify


def main():
    cfg = parse_config(__doc__, command='predict', entry_defaults={'batch_size': 16})
    class_names = read_class_names(cfg.class_names)
    images, shown_names = list_images(cfg.image_path)
    setup_device(cfg)
    classify = load_classifier(cfg)
    progress = Progress(len(images), 'predicting')
    for start in range(0, len(images), cfg.batch_size):
        batch = np.stack([preprocess(path, cfg.image_height, cfg.image_width, crop_pct=cfg.crop_pct,
                                     resize=cfg.eval_resize)
                          for path in images[start:start + cfg.batch_size]])
        batch_logits = classify(batch)
        if class_names and len(class_names) != batch_logits.shape[1]:
            raise UsageError(f'--class_names {cfg.class_names} names {len(class_names)} classes but the model '
                             f'has {batch_logits.shape[1]}')
        for name, row in zip(shown_names[start:start + cfg.batch_size], batch_logits):
            print(f'{name}: {top_classes(row, class_names)}', flush=True)
        progress.advance(len(batch))


if __name__ == '__main__':
    run_main(main)

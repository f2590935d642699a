"""Where BAM or CBAM looks: for each image, a PNG of the image as the network sees it and the spatial attention map
of each of the first three stages laid over it, with the network's top-5 classes.

  python attention_map.py --model_file MODEL.ckpt --image_path IMAGE_OR_FOLDER [--class_names FILE]
                          [--output_dir OUTPUT_DIR] [--image_height H --image_width W]
                          [--num_classes N --base_width W --bam_fusion F] [--batch_size B (default 16)]

writes OUTPUT_DIR/attention/<image name>.png (a folder's sub-folders are kept) and prints one line per image:
  <image>: <class> <probability>, ... (five classes, most probable first) -> <png>
Images are read and preprocessed as predict.py does (evaluation transforms: resize, centre crop H x W,
normalise); the picture shows that centre crop. --model_file must be a checkpoint: the maps come from inside
the network, which an export does not open up.

The maps: BAM refines a feature map F into F * (1 + sigmoid(M(F))), where M(F) combines a channel gate Mc(F),
one value per channel, with a spatial gate Ms(F), one value per position shared by all channels: M = Mc * Ms
(--bam_fusion product) or Mc + Ms (sum). The picture shows Ms(F), the part that says where: the raw output of
the spatial gate (before fusion and sigmoid) of BAM1, BAM2 and BAM3, which sit after stages 1, 2 and 3 at 1/4,
1/8 and 1/16 of the input size, upsampled bilinearly to the input size. Each map is coloured from its own
minimum (blue) to its own maximum (red), so the colours say where the gate is high relative to the rest of that
image; the panel's title gives the raw minimum, maximum and spread, the colour bar the raw values, and a small
spread means the gate hardly varies over the image. With product fusion each channel scales Ms by its Mc,
negative factors included: a high Ms marks where the attention is strongest in magnitude.
The network runs in PyNative mode unless --mode graph is given: its stages are called one by one, and graph
mode would compile each of them as a graph of its own (slower here). With CBAM (--arch ..._cbam) the maps are the
spatial gates of the last block of stages 1, 2 and 3 before their sigmoid: the 7x7 convolution and BatchNorm over
the channels' maximum and mean.
"""
from src.utils.interrupts import answer_signals_if_main

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import glob
import os

import numpy as np

from src.config import parse_config
from src.deploy.attention import (ATTENTION_FOLDER, check_model_file, displayable, draw_attention_figure, output_paths,
                                  spatial_maps)
from src.deploy.inference import list_images, logits, network_from_checkpoint, preprocess, read_class_names, top_classes
from src.utils.device import setup_device
from src.models.family import parse_arch
from src.utils.errors import UsageError, run_main
from src.utils.files import check_output_dir, claim_output_dir
from src.utils.progress import Progress


def main():
    cfg = parse_config(__doc__, command='attention_map', entry_defaults={'batch_size': 16, 'mode': 'pynative'})
    check_model_file(cfg.model_file)
    attention = parse_arch(cfg.arch)[1]
    if not attention:
        raise UsageError(f'--arch {cfg.arch} has no attention module to draw: name a network with _bam or _cbam')
    class_names = read_class_names(cfg.class_names)
    if class_names and len(class_names) != cfg.num_classes:
        raise UsageError(f'--class_names {cfg.class_names} names {len(class_names)} classes but --num_classes is '
                         f'{cfg.num_classes}')
    images, shown_names = list_images(cfg.image_path)
    pictures = output_paths(images, cfg.image_path, cfg.output_dir)
    check_output_dir(os.path.join(cfg.output_dir, ATTENTION_FOLDER), 'the pictures\' folder')
    claim_output_dir(cfg.output_dir, 'attention_map', overwrite=cfg.overwrite,
                     results=[glob.escape(os.path.relpath(picture, cfg.output_dir)) for picture in pictures])
    setup_device(cfg)
    net = network_from_checkpoint(cfg, cfg.model_file)
    progress = Progress(len(images), 'drawing')
    for start in range(0, len(images), cfg.batch_size):
        chunk = slice(start, start + cfg.batch_size)
        batch = np.stack([preprocess(path, cfg.image_height, cfg.image_width, crop_pct=cfg.crop_pct,
                                     resize=cfg.eval_resize)
                          for path in images[chunk]])
        batch_maps = spatial_maps(net, batch)
        # The classes come from the network's own forward pass, as predict.py computes them.
        for index, (name, row, picture) in enumerate(zip(shown_names[chunk], logits(net, batch), pictures[chunk])):
            predicted = top_classes(row, class_names)
            try:
                draw_attention_figure(displayable(batch[index]), [maps[index] for maps in batch_maps],
                                      f'{name}\npredicted: {predicted}', picture, attention)
            except UsageError as error:
                raise UsageError(f'{error}; the {start + index} pictures listed above were written') from error
            print(f'{name}: {predicted} -> {picture}', flush=True)
        progress.advance(len(batch))
    print(f'{len(images)} attention pictures in {os.path.join(cfg.output_dir, ATTENTION_FOLDER)}')


if __name__ == '__main__':
    run_main(main)

"""Where BAM looks: for each image, a PNG of the image as the network sees it and the spatial attention map of
each of the three BAMs laid over it, with the network's top-5 classes.

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
mode would compile each of them as a graph of its own (slower here).
"""
from src.interrupts import answer_signals_if_main

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/interrupts.py

import glob
import os

import numpy as np
from PIL import Image

from src.config import parse_config
from src.errors import UsageError, run_main
from src.files import check_output_dir, claim_output_dir, written_atomically
from src.dataset import IMAGENET_MEAN, IMAGENET_STD
from src.device import setup_device
from src.inference import list_images, logits, network_from_checkpoint, preprocess, read_class_names, top_classes
from src.progress import Progress

ATTENTION_FOLDER = 'attention'
BAMS = 3
PANEL_INCHES = 3.2
FIGURE_INCHES = (PANEL_INCHES * (1 + BAMS) + 1.2, PANEL_INCHES + 0.7)
DPI = 100
FIGURE_PIXELS = (round(FIGURE_INCHES[0] * DPI), round(FIGURE_INCHES[1] * DPI))  # (width, height) of a PNG
OVERLAY_ALPHA = 0.5
# Blue (low) to red (high), as heat maps are usually read.
COLORMAP = 'jet'


def check_model_file(path):
    """UsageError unless `path` names an existing checkpoint; checked before MindSpore starts."""
    if not path:
        raise UsageError('--model_file is required: a .ckpt checkpoint')
    if os.path.splitext(path)[1].lower() != '.ckpt':
        raise UsageError(f'--model_file {path} must be a .ckpt checkpoint: the attention maps are read from inside '
                         f'the network, which a MINDIR or ONNX export does not give access to')
    if not os.path.isfile(path):
        raise UsageError(f'--model_file {path} does not exist')


def output_paths(images, image_path, output_dir):
    """OUTPUT_DIR/attention/<name>.png for every image: the image's path under a folder --image_path, or its file
    name, with the extension replaced. UsageError if two images would write the same file."""
    folder = os.path.join(output_dir, ATTENTION_FOLDER)
    paths = []
    for image in images:
        name = os.path.relpath(image, image_path) if os.path.isdir(image_path) else os.path.basename(image)
        paths.append(os.path.join(folder, os.path.splitext(name)[0] + '.png'))
    clashing = sorted({path for path in paths if paths.count(path) > 1})
    if clashing:
        raise UsageError(f'images differing only in their extension would share the picture {clashing[0]}; '
                         f'move one of them to another folder')
    return paths


def spatial_maps(net, batch):
    """Ms(F) of the three BAMs for a float32 (N, 3, H, W) batch, as three numpy arrays (N, h, w)."""
    import mindspore as ms

    return [gate.asnumpy()[:, 0] for gate in net.spatial_attention_maps(ms.Tensor(batch))]


def displayable(image):
    """The (H, W, 3) picture in [0, 1] of a normalised (3, H, W) network input: exactly what the network saw."""
    pixels = image.transpose(1, 2, 0) * np.array(IMAGENET_STD) + np.array(IMAGENET_MEAN)
    return np.clip(pixels / 255, 0, 1)


def upsampled(attention_map, height, width):
    """A (h, w) map resized bilinearly to (height, width)."""
    resized = Image.fromarray(attention_map.astype(np.float32)).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def draw_attention_figure(image, maps, title, path):
    """Save the picture of one image: the input, then each BAM's map over it, coloured from its min to its max."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_INCHES, dpi=DPI, layout='constrained')
    FigureCanvasAgg(figure)  # render with Agg: no display needed
    image_axes, *map_axes = figure.subplots(1, 1 + len(maps))
    height, width = image.shape[:2]
    image_axes.imshow(image, interpolation='nearest')
    image_axes.set_title(f'input, {height}x{width} centre crop')
    for number, (axes, attention_map) in enumerate(zip(map_axes, maps), start=1):
        low, high = float(attention_map.min()), float(attention_map.max())
        axes.imshow(image, interpolation='nearest')
        overlay = axes.imshow(upsampled(attention_map, height, width), cmap=COLORMAP, alpha=OVERLAY_ALPHA,
                              vmin=low, vmax=high, interpolation='nearest')
        # A constant map gets the middle colour (matplotlib widens an empty colour range around the value).
        values = (f'raw {low:.3g} to {high:.3g} (spread {high - low:.3g})' if high > low
                  else f'constant {low:.3g}: no spatial preference')
        axes.set_title(f'BAM{number} Ms(F), {attention_map.shape[0]}x{attention_map.shape[1]}\n{values}')
        # A bar of its own, opaque: the overlay's colours are blended with the image.
        opaque = ScalarMappable(norm=overlay.norm, cmap=overlay.cmap)
        figure.colorbar(opaque, ax=axes, fraction=0.046, pad=0.03).set_label('raw Ms(F)')
    for axes in (image_axes, *map_axes):
        axes.set_xticks([])
        axes.set_yticks([])
    figure.suptitle(title, fontsize=10)
    with written_atomically(path, 'the picture ') as partial:
        figure.savefig(partial, format='png')


def main():
    cfg = parse_config(__doc__, command='attention_map', entry_defaults={'batch_size': 16, 'mode': 'pynative'})
    check_model_file(cfg.model_file)
    class_names = read_class_names(cfg.class_names)
    if class_names and len(class_names) != cfg.num_classes:
        raise UsageError(f'--class_names {cfg.class_names} names {len(class_names)} classes but --num_classes is '
                         f'{cfg.num_classes}')
    if not cfg.image_path:
        raise UsageError('--image_path is required: an image or a folder of images')
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
                                      f'{name}\npredicted: {predicted}', picture)
            except UsageError as error:
                raise UsageError(f'{error}; the {start + index} pictures listed above were written') from error
            print(f'{name}: {predicted} -> {picture}', flush=True)
        progress.advance(len(batch))
    print(f'{len(images)} attention pictures in {os.path.join(cfg.output_dir, ATTENTION_FOLDER)}')


if __name__ == '__main__':
    run_main(main)

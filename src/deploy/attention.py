"""Pictures of what BAM or CBAM attends to (attention_map.py is the command): the spatial map of each of the first
three stages, upsampled to the image and drawn over it beside the image, one PNG per image, written whole or not at
all."""
import os

import numpy as np
from PIL import Image

from src.data.dataset import IMAGENET_MEAN, IMAGENET_STD
from src.utils.errors import UsageError
from src.utils.files import written_atomically

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


PANEL_TITLES = {'bam': 'BAM{number} Ms(F)', 'cbam': 'CBAM stage {number}'}


def draw_attention_figure(image, maps, title, path, attention='bam'):
    """Save the picture of one image: the input, then the spatial map of each of the three stages' `attention`
    ('bam' or 'cbam') over it, coloured from its min to its max."""
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
        panel = PANEL_TITLES[attention].format(number=number)
        axes.set_title(f'{panel}, {attention_map.shape[0]}x{attention_map.shape[1]}\n{values}')
        # A bar of its own, opaque: the overlay's colours are blended with the image.
        opaque = ScalarMappable(norm=overlay.norm, cmap=overlay.cmap)
        figure.colorbar(opaque, ax=axes, fraction=0.046, pad=0.03).set_label('raw Ms(F)')
    for axes in (image_axes, *map_axes):
        axes.set_xticks([])
        axes.set_yticks([])
    figure.suptitle(title, fontsize=10)
    with written_atomically(path, 'the picture ') as partial:
        figure.savefig(partial, format='png')

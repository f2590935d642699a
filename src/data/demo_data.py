"""Build a small ImageNet-layout demo set from real photos, offline: Fashion-MNIST (Zalando, MIT licence)
as shipped by Debian's dataset-fashion-mnist package.

    python -m src.data.demo_data --output_dir DIR [--train_per_class N] [--val_per_class N] [--image_size S] [--seed K]
                            [--classes 0-4]

writes
    DIR/train/<class>/<class>_<index>.JPEG  training images, drawn from the 60,000-image train file
    DIR/val/<class>/val_<index>.JPEG        validation images, drawn from the 10,000-image t10k file
    DIR/val_flat/val_<index>.JPEG           the same val images in one folder, for the inference app
    DIR/val_label.json                      {image stem: class index} of val_flat, as create_imagenet2012_label.py
                                            writes it
    DIR/class_names.json                    {class folder: human-readable name}
(<index> is the photo's position in its source file.)
The class folders carry synthetic WordNet-style ids (n00000000 ... n00000009) whose sorted order is the
Fashion-MNIST label order. --classes keeps some of the ten (e.g. 0-4 and 5-9 for a transfer experiment: two sets
of different classes); their folders keep their ids, and training numbers them 0, 1, ... in sorted order. Images are the 28 x 28 grey photos as RGB JPEGs, upscaled to S x S. The same
seed gives the same files, byte for byte.
"""
from src.utils.interrupts import answer_signals_if_main

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import argparse
import gzip
import io
import json
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from src.data.image_folder import labelled_images
from src.utils.errors import OneLineParser, UsageError, run_main
from src.utils.files import check_output_dir

FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
INSTALL_HINT = 'apt-get update && apt-get install -y dataset-fashion-mnist'
CLASS_NAMES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
               'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
SOURCE_SIZE = 28
# Defaults sized for a CPU demo run; the training issue may tune them.
TRAIN_PER_CLASS = 1000
VAL_PER_CLASS = 100
IMAGE_SIZE = 32
SEED = 1
JPEG_QUALITY = 95
PARTS = ('train', 'val', 'val_flat', 'val_label.json', 'class_names.json')


def class_folder(label):
    """The WordNet-style folder name of a label; zero-padded so that sorted names keep the label order."""
    return f'n{label:08d}'


def _read_idx(path, ndim):
    """The uint8 array of a gzipped IDX file: two zero bytes, the type byte 0x08 (uint8), the number of
    dimensions, one big-endian uint32 per dimension, then the data."""
    try:
        with gzip.open(path, 'rb') as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise UsageError(f'cannot read {path} ({error}); reinstall it: {INSTALL_HINT}') from error
    if data[:4] != bytes((0, 0, 0x08, ndim)):
        raise UsageError(f'{path} is not a {ndim}-dimensional uint8 IDX file; reinstall it: {INSTALL_HINT}')
    dims = [int.from_bytes(data[4 + 4 * axis:8 + 4 * axis], 'big') for axis in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_fashion_mnist(split, source_dir=FASHION_MNIST_DIR):
    """(images uint8 (N, 28, 28), labels uint8 (N,)) of the 'train' or 't10k' split."""
    paths = [os.path.join(source_dir, f'{split}-{kind}-ubyte.gz') for kind in ('images-idx3', 'labels-idx1')]
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise UsageError(f'Fashion-MNIST is not installed ({missing[0]} is missing); install it with: {INSTALL_HINT}')
    return _read_idx(paths[0], ndim=3), _read_idx(paths[1], ndim=1)


ALL_CLASSES = tuple(range(len(CLASS_NAMES)))


def pick_per_class(labels, per_class, rng, classes=ALL_CLASSES):
    """Indices of `per_class` randomly chosen images of each of `classes`, in ascending order."""
    chosen = []
    for label in classes:
        members = np.flatnonzero(labels == label)
        if per_class > len(members):
            raise UsageError(f'class {CLASS_NAMES[label]!r} has {len(members)} images, fewer than the '
                             f'{per_class} per class asked for')
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def encode_jpeg(grey, size):
    """A 28 x 28 grey image as the bytes of an RGB JPEG of size x size."""
    image = Image.fromarray(grey).resize((size, size), Image.BICUBIC).convert('RGB')
    buffer = io.BytesIO()
    image.save(buffer, 'JPEG', quality=JPEG_QUALITY)
    return buffer.getvalue()


def _write(path, data):
    with open(path, 'wb') as handle:
        handle.write(data)


def _write_split(images, labels, indices, *, folder, name_of, size, classes, flat_folder=None):
    for label in classes:
        os.makedirs(os.path.join(folder, class_folder(label)))
    for index in indices:
        label = int(labels[index])
        data = encode_jpeg(images[index], size)
        file_name = name_of(index, label)
        _write(os.path.join(folder, class_folder(label), file_name), data)
        if flat_folder:
            _write(os.path.join(flat_folder, file_name), data)


def _write_json(path, content):
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump(content, handle, indent=1, ensure_ascii=False)
        handle.write('\n')


def build_demo_data(output_dir, *, train_per_class=TRAIN_PER_CLASS, val_per_class=VAL_PER_CLASS,
                    image_size=IMAGE_SIZE, seed=SEED, overwrite=False, source_dir=FASHION_MNIST_DIR,
                    classes=ALL_CLASSES):
    """Write the demo set (see the module docstring) into output_dir; returns {part: path}.
    The set is built in a temporary folder inside output_dir and moved into place only once every part is
    written, so an interrupted build leaves no half-written image folder behind."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UsageError(f'--output_dir {output_dir} is a file; give a folder')
    existing = [part for part in PARTS if os.path.exists(os.path.join(output_dir, part))]
    if existing and not overwrite:
        raise UsageError(f'{output_dir} already holds {", ".join(existing)}; pass --overwrite to replace them '
                         f'or choose another --output_dir')
    train_images, train_labels = read_fashion_mnist('train', source_dir)
    val_images, val_labels = read_fashion_mnist('t10k', source_dir)
    # One random stream per split, so that changing the train size leaves the val images as they are.
    train_rng, val_rng = (np.random.default_rng(stream) for stream in np.random.SeedSequence(seed).spawn(2))
    train_indices = pick_per_class(train_labels, train_per_class, train_rng, classes)
    val_indices = pick_per_class(val_labels, val_per_class, val_rng, classes)

    check_output_dir(output_dir, '--output_dir')
    os.makedirs(output_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.demo_data-', dir=output_dir)
    try:
        stage = {part: os.path.join(staging, part) for part in PARTS}
        os.makedirs(stage['val_flat'])
        _write_split(train_images, train_labels, train_indices, folder=stage['train'],
                     name_of=lambda index, label: f'{class_folder(label)}_{index}.JPEG', size=image_size,
                     classes=classes)
        _write_split(val_images, val_labels, val_indices, folder=stage['val'],
                     name_of=lambda index, label: f'val_{index:05d}.JPEG', size=image_size, classes=classes,
                     flat_folder=stage['val_flat'])
        _write_json(stage['val_label.json'], labelled_images(stage['val']).labels)
        _write_json(stage['class_names.json'],
                    {class_folder(label): CLASS_NAMES[label] for label in classes})
        for part in PARTS:
            target = os.path.join(output_dir, part)
            if os.path.isdir(target):
                shutil.rmtree(target)
            os.replace(stage[part], target)
    except OSError as error:  # a full disk: nothing half-written is left behind
        raise UsageError(f'cannot write the demo set into {output_dir}: {error.strerror or error}') from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {part: os.path.join(output_dir, part) for part in PARTS}


def _count_in(low, high):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a whole number, got {text!r}') from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f'must be between {low} and {high}, got {value}')
        return value
    return parse


def class_list(text):
    """'0-4' or '0,2,5' -> sorted distinct labels of Fashion-MNIST's ten classes."""
    labels = set()
    try:
        for part in text.split(','):
            low, _, high = part.partition('-')
            labels.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected class numbers like 0-4 or 0,2,5, got {text!r}') from None
    if not labels or not labels <= set(ALL_CLASSES):
        raise argparse.ArgumentTypeError(f'classes are numbered 0 to {len(CLASS_NAMES) - 1}, got {text!r}')
    return tuple(sorted(labels))


def parse_args(argv=None):
    # Its own options, not the shared settings: it builds image folders before any run that a recipe describes.
    parser = OneLineParser(prog='python -m src.data.demo_data', description=__doc__.split('\n\n', 1)[0],
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--output_dir', required=True, help='folder to write the demo set into')
    parser.add_argument('--train_per_class', type=_count_in(1, 6000), default=TRAIN_PER_CLASS,
                        help='training images per class (the source has 6000)')
    parser.add_argument('--val_per_class', type=_count_in(1, 1000), default=VAL_PER_CLASS,
                        help='validation images per class (the source has 1000)')
    parser.add_argument('--image_size', type=_count_in(SOURCE_SIZE, 4096), default=IMAGE_SIZE,
                        help='side of the square JPEGs, upscaled from 28')
    parser.add_argument('--seed', type=_count_in(0, 2 ** 32 - 1), default=SEED, help='which images are drawn')
    parser.add_argument('--classes', type=class_list, default=ALL_CLASSES,
                        help='which of the ten classes to keep, e.g. 0-4 or 0,2,5')
    parser.add_argument('--overwrite', action='store_true', help='replace a demo set already in --output_dir')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    parts = build_demo_data(args.output_dir, train_per_class=args.train_per_class,
                            val_per_class=args.val_per_class, image_size=args.image_size, seed=args.seed,
                            overwrite=args.overwrite, classes=args.classes)
    classes = len(args.classes)
    print(f'wrote {classes * args.train_per_class} train and {classes * args.val_per_class} val images of '
          f'{classes} classes ({args.image_size}x{args.image_size} JPEG) to {args.output_dir}: '
          f'--data_path {parts["train"]} --val_data_path {parts["val"]}')


if __name__ == '__main__':
    run_main(main)

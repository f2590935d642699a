"""Data-pipeline throughput: src/data/dataset.py's MindSpore pipeline against a plain Pillow + numpy pipeline doing
the same work, on ImageNet-sized JPEGs, in images per second (median of several timed epochs after one
warm-up epoch).

    python -m benchmarks.data_pipeline [--images 512] [--runs 5] [--workers 1 2] [--output FILE]

The JPEGs are the real Fashion-MNIST photos of the demo set (Debian's dataset-fashion-mnist), upscaled to
500 x 375 and filed in their class folders. Upscaled 28 x 28 photos are smoother than camera photos,
so they compress to smaller files than ImageNet's (about 110 KB on average) and decode faster: treat the
figures as the pipeline's speed on this machine, not as ImageNet's.

`pipeline_images_per_second` is the measurement for other tools (benchmark.py).
"""
import argparse
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.pool import ThreadPool

import numpy as np
from PIL import Image, ImageEnhance

from src.utils.files import write_json
from src.data.dataset import (COLOR_JITTER, CROP_RATIO, CROP_SCALE, IMAGENET_MEAN, IMAGENET_STD, create_dataset,
                         eval_resize_size)
from src.data.demo_data import class_folder, read_fashion_mnist
from src.data.image_folder import read_image_folder

IMAGENET_LIKE_SIZE = (500, 375)  # width, height: ImageNet's most common photo size
JPEG_QUALITY = 90
IMAGES = 512
RUNS = 5
BATCH_SIZE = 32
IMAGE_SIZE = 224
COLOR_ENHANCERS = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)  # brightness, contrast, saturation


def write_benchmark_images(folder, count):
    """`count` Fashion-MNIST photos (the same for every call) upscaled to IMAGENET_LIKE_SIZE as JPEGs in
    folder/<class>/; returns the folder."""
    images, labels = read_fashion_mnist('t10k')
    for index in np.random.default_rng(0).choice(len(images), count, replace=False):
        class_dir = os.path.join(folder, class_folder(int(labels[index])))
        os.makedirs(class_dir, exist_ok=True)
        photo = Image.fromarray(images[index]).resize(IMAGENET_LIKE_SIZE, Image.BICUBIC).convert('RGB')
        photo.save(os.path.join(class_dir, f'bench_{index:05d}.JPEG'), quality=JPEG_QUALITY)
    return folder


def _median_rate(epoch_images_and_seconds):
    return statistics.median(images / seconds for images, seconds in epoch_images_and_seconds)


def _timed_epochs(batches_of_epoch, runs):
    """One untimed warm-up epoch, then `runs` timed ones: [(images, seconds)]."""
    timings = []
    for run in range(runs + 1):
        start = time.perf_counter()
        images = sum(len(labels) for _, labels in batches_of_epoch())
        if run:
            timings.append((images, time.perf_counter() - start))
    return timings


def pipeline_images_per_second(*, image_height=IMAGE_SIZE, image_width=IMAGE_SIZE, batch_size=BATCH_SIZE,
                               num_parallel_workers=0, training=True, data_path=None, images=IMAGES, runs=RUNS):
    """Median images/s of src.data.dataset's pipeline (one shard) over `data_path`, or over `images` ImageNet-sized
    JPEGs made for the purpose when data_path is None. Batches are read as numpy arrays, as a trainer gets them."""
    with tempfile.TemporaryDirectory(prefix='bench-data-') as scratch:
        folder = data_path or write_benchmark_images(scratch, images)
        dataset = create_dataset(folder, training=training, batch_size=batch_size, image_height=image_height,
                                 image_width=image_width, num_parallel_workers=num_parallel_workers).dataset
        # A fresh iterator per epoch: one iterator over several epochs computes the next epoch ahead, into
        # its queues, while the timer is stopped.
        return _median_rate(_timed_epochs(
            lambda: dataset.create_tuple_iterator(num_epochs=1, output_numpy=True), runs))


# The Pillow + numpy baseline: the same transforms, written the way a plain Python pipeline would.

def _random_crop_box(width, height, rng):
    """A crop of random area fraction (CROP_SCALE) and log-uniform aspect ratio (CROP_RATIO); the centre crop
    of the nearest ratio when ten draws do not fit."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        ratio = math.exp(rng.uniform(*np.log(CROP_RATIO)))
        crop_w, crop_h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            left, top = rng.integers(0, width - crop_w + 1), rng.integers(0, height - crop_h + 1)
            return left, top, left + crop_w, top + crop_h
    ratio = min(max(width / height, CROP_RATIO[0]), CROP_RATIO[1])
    crop_w, crop_h = (width, round(width / ratio)) if width / height < ratio else (round(height * ratio), height)
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


def _shift_hue(image, fraction):
    hue, saturation, value = image.convert('HSV').split()
    hue = Image.fromarray(((np.asarray(hue, np.int16) + round(fraction * 255)) % 256).astype(np.uint8))
    return Image.merge('HSV', (hue, saturation, value)).convert('RGB')


def _normalized_chw(image):
    array = (np.asarray(image, np.float32) - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
    return array.transpose(2, 0, 1)


def pillow_train_image(path, height, width, rng):
    """The training transform in Pillow and numpy: decode, random crop resized to H x W, flip, colour jitter,
    normalise, CHW."""
    with Image.open(path) as image:
        image = image.convert('RGB')
    image = image.resize((width, height), Image.BILINEAR, box=_random_crop_box(*image.size, rng))
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    for enhancer in COLOR_ENHANCERS:
        image = enhancer(image).enhance(rng.uniform(1 - COLOR_JITTER, 1 + COLOR_JITTER))
    image = _shift_hue(image, rng.uniform(-COLOR_JITTER / 4, COLOR_JITTER / 4))
    return _normalized_chw(image)


def pillow_eval_image(path, height, width):
    """The evaluation transform in Pillow and numpy: decode, shorter side to eval_resize_size, centre crop,
    normalise, CHW."""
    with Image.open(path) as image:
        image = image.convert('RGB')
    scale = eval_resize_size(height, width) / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return _normalized_chw(image.crop((left, top, left + width, top + height)))


def _pillow_task(task):
    path, label, training, height, width, seed = task
    rng = np.random.default_rng(seed)
    image = pillow_train_image(path, height, width, rng) if training else pillow_eval_image(path, height, width)
    return image, label


def pillow_images_per_second(data_path, *, training, image_height, image_width, batch_size, workers, runs=RUNS):
    """Median images/s of the baseline: the images in file order, transformed by `workers` threads (one: in
    this thread; Pillow and numpy release the GIL while they decode and compute), stacked into float32
    (B, 3, H, W) batches."""
    samples = read_image_folder(data_path).samples
    pool = ThreadPool(workers) if workers > 1 else None
    epochs = itertools.count()

    def batches():
        epoch = next(epochs)  # a new random stream per epoch, as the pipeline's augmentations have
        tasks = [(path, label, training, image_height, image_width, (epoch, index))
                 for index, (path, label) in enumerate(samples)]
        results = pool.imap(_pillow_task, tasks, chunksize=8) if pool else map(_pillow_task, tasks)
        while batch := list(itertools.islice(results, batch_size)):
            images, labels = zip(*batch)
            yield np.stack(images), np.array(labels, np.int32)

    try:
        return _median_rate(_timed_epochs(batches, runs))
    finally:
        if pool:
            pool.terminate()


def run_benchmark(*, images, runs, worker_counts, image_size, batch_size):
    """{'rows': [...], ...}: every (transform, workers, implementation) median images/s, on one set of files."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix='bench-data-') as folder:
        write_benchmark_images(folder, images)
        sizes = [os.path.getsize(path) for path, _ in read_image_folder(folder).samples]
        rows = []
        for training in (True, False):
            for workers in worker_counts:
                both = dict(image_height=image_size, image_width=image_size, batch_size=batch_size,
                            training=training, runs=runs)
                mindspore_rate = pipeline_images_per_second(num_parallel_workers=workers, data_path=folder, **both)
                pillow_rate = pillow_images_per_second(folder, workers=workers, **both)
                rows.append({'transform': 'train' if training else 'eval', 'workers': workers,
                             'mindspore_images_per_s': round(mindspore_rate, 1),
                             'pillow_images_per_s': round(pillow_rate, 1),
                             'speedup': round(mindspore_rate / pillow_rate, 2)})
    return {'rows': rows, 'images': images, 'runs': runs, 'batch_size': batch_size,
            'output_size': [image_size, image_size], 'source_size': list(IMAGENET_LIKE_SIZE),
            'mean_jpeg_kb': round(statistics.mean(sizes) / 1024, 1), 'cpus': len(os.sched_getaffinity(0)),
            'load_average_before': [round(load, 2) for load in load_before],
            'load_average_after': [round(load, 2) for load in os.getloadavg()]}


def format_table(result):
    lines = [f'{result["images"]} JPEGs {result["source_size"][0]}x{result["source_size"][1]} '
             f'(mean {result["mean_jpeg_kb"]} KB) -> {result["output_size"][0]}x{result["output_size"][1]}, '
             f'batch {result["batch_size"]}, median of {result["runs"]} epochs, {result["cpus"]} CPUs',
             f'{"transform":<10}{"workers":>8}{"MindSpore img/s":>17}{"Pillow img/s":>14}{"speed-up":>10}']
    lines += [f'{row["transform"]:<10}{row["workers"]:>8}{row["mindspore_images_per_s"]:>17.1f}'
              f'{row["pillow_images_per_s"]:>14.1f}{row["speedup"]:>9.2f}x' for row in result['rows']]
    lines.append(f'load average (1, 5, 15 min): before {result["load_average_before"]}, '
                 f'after {result["load_average_after"]}')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(prog='python -m benchmarks.data_pipeline', description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--images', type=int, default=IMAGES, help='JPEGs per epoch')
    parser.add_argument('--runs', type=int, default=RUNS, help='timed epochs (after one warm-up epoch)')
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2], help='worker counts to measure')
    parser.add_argument('--image_size', type=int, default=IMAGE_SIZE, help='output height and width')
    parser.add_argument('--batch_size', type=int, default=BATCH_SIZE, help='images per batch')
    parser.add_argument('--output', default='output/benchmark_data_pipeline.json', help='JSON result file')
    args = parser.parse_args()
    result = run_benchmark(images=args.images, runs=args.runs, worker_counts=args.workers,
                           image_size=args.image_size, batch_size=args.batch_size)
    print(format_table(result))
    write_json(args.output, result)
    print(f'wrote {args.output}', file=sys.stderr)


if __name__ == '__main__':
    main()

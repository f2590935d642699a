"""The data pipeline: images of an ImageNet-layout folder (`root/<class>/<image>`, classes indexed by
sorted folder name) through the original recipe's transforms into batches of float32 (B, 3, H, W) images
and int32 (B,) labels.

Training:   RandomCropDecodeResize((H, W), scale (0.08, 1), ratio (3/4, 4/3)) -> RandomHorizontalFlip ->
            RandomColorAdjust(0.4, 0.4, 0.4, 0.1) -> Normalize(ImageNet mean/std x 255) -> HWC2CHW;
            shuffled, full batches only (the last partial batch is dropped).
Evaluation: Decode -> Resize(shorter side to S) -> CenterCrop((H, W)) -> the same Normalize -> HWC2CHW,
            with S = eval_resize_size(H, W, crop_pct) (256 for 224 x 224 at the recipe's 0.875; H itself
            at 1); every image is scored exactly once. The resize is OpenCV's bilinear (MindSpore's C++
            Resize, as in the C++ app), or with eval_resize 'pil' the decode, resize and crop run in PIL as
            torchvision's Resize(256) + CenterCrop(224) do for the authors' evaluation: the same pixels.
            Images of 16 bits a sample (greyscale PNG, TIFF, PGM) are scaled to 8 bits (the high byte) on both
            paths: the 'pil' path reads them with the 'opencv' path's decoder, since PIL's own conversion to RGB
            clips every value above 255 to white.

API
- create_dataset(data_path, *, training, batch_size, image_height, image_width, num_parallel_workers=0,
  num_shards=1, shard_id=0, num_classes=None, seed=1, crop_min_scale=0.08, color_jitter=0.4,
  crop_pct=0.875, eval_resize='opencv') -> DataSplit: the batched dataset of this shard, its steps per epoch, its
  image count, the image count of the whole set, the class names and the files skipped as unreadable.
- check_train_val(train_path, val_path, num_classes=None) -> class names: the cheap folder checks of a
  train/val pair (or of a train set alone), to run before any work starts.
- eval_resize_size(height, width, crop_pct=0.875) -> S, shared with the C++ inference app and the Python predictor.
- pil_decode(encoded) -> the RGB pixels the 'pil' evaluation starts from.
- train_transforms(height, width, crop_min_scale=0.08, color_jitter=0.4),
  eval_transforms(height, width, crop_pct=0.875, resize='opencv') -> the transform lists, for one image too.
- resolve_num_workers(requested, processes=1) -> the worker count a pipeline runs with.
Problems the user can fix (missing folder, no class folders, an empty class or one whose every file is
unreadable, class or num_classes mismatch, a set smaller than one training batch) raise
src.config.UsageError before anything is decoded.

Sharding: training uses MindSpore's DistributedSampler, which gives every shard ceil(N / num_shards)
images (padding with repeats) so that all devices take the same number of steps. Evaluation gives shard r
the images r, r + n, r + 2n, ... of the sorted list, unpadded: shards differ by at most one image, a shard
may be smaller than a batch or empty (it then yields no batches), and the last batch may be partial.

Unreadable files: before the pipeline starts, every file is checked, JPEGs and PNGs without decoding them
(src.data.image_folder.image_problem: a JPEG's header and end marker, a PNG's checksums, a TIFF's sample size and
type, symbolic links that loop or lead nowhere). Files that would fail are left out and reported once (on
shard 0) with their count; DataSplit.unreadable lists them all. Checking up front rather than at decode
time is not a matter of taste here: a JPEG cut off inside its header kills MindSpore's decoder with
SIGFPE, which no error handling in the pipeline can skip. The check costs about 39 microseconds of CPU a
JPEG (image_problem gives the measurement): 0.4 s for the 10,000-image demo set, under a minute for
ImageNet's 1.28 million, once per run.

Workers: num_parallel_workers > 0 is used as given (up to the machine's CPU count, MindSpore's limit); 0
means the CPUs this process may use divided by the processes of the run that share them
(src.utils.device.processes_sharing_cpus: the data-parallel workers of this machine, not the shards of every
machine), at least 1 and at most 8.
"""
import hashlib
import io
import logging
import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from src.utils.device import processes_sharing_cpus
from src.utils.errors import UsageError
from src.data.image_folder import (check_classes_keep_images, check_num_classes, check_same_classes,
                              describe_unreadable, read_image_folder, split_readable)

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
CROP_SCALE = (0.08, 1.0)  # area fraction of the random crop; the smallest is --crop_min_scale
CROP_RATIO = (3 / 4, 4 / 3)
EVAL_CROP_PCT = 0.875  # the recipe's centre crop: 224 of 256
COLOR_JITTER = 0.4  # brightness, contrast and saturation; hue a quarter of it (the recipe's 0.1)
EVAL_RESIZES = ('opencv', 'pil')
# PIL modes of more than 8 bits a sample that pass the screen (src.data.image_folder.image_problem): 16-bit PNGs, TIFFs
# and PGMs open as these, and PIL's conversion to RGB clips them instead of scaling.
WIDE_PIL_MODES = ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N')
# More workers than this per device stop paying off and crowd out the other devices' pipelines.
MAX_AUTO_WORKERS = 8

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSplit:
    """A pipeline and what a trainer or evaluator needs to know about it.

    dataset         -- mindspore.dataset.Dataset yielding (image float32 (B, 3, H, W), label int32 (B,))
    steps_per_epoch -- batches this shard yields per epoch
    shard_images    -- images this shard yields per epoch (training: steps x batch size, sampler repeats
                       included; evaluation: its share of the set, each image once)
    total_images    -- readable images in the whole set, over all shards
    class_names     -- class folder names; a label is a position in this tuple
    unreadable      -- (path, reason) of every file of the whole set that was left out
    listing         -- SHA-256 (hex) of the readable images' paths inside the set's folder and their labels: the
                       shards are cut from this list, so every machine of a data-parallel run must have the same
    """
    dataset: object
    steps_per_epoch: int
    shard_images: int
    total_images: int
    class_names: tuple
    unreadable: tuple
    listing: str


def eval_resize_size(height, width, crop_pct=EVAL_CROP_PCT):
    """The shorter side an image is resized to before the centre crop keeps `crop_pct` of it: the recipe's
    256 for 224 at 0.875. The C++ app takes S from here (scripts/infer_common.sh), so both round alike."""
    return round(max(height, width) / crop_pct)


def resolve_num_workers(requested, processes=1):
    """`requested` if positive; 0 means this process's CPUs shared by `processes` processes, at least 1 and at
    most MAX_AUTO_WORKERS. MindSpore refuses more workers than the machine has CPUs."""
    cpus = os.cpu_count()
    if requested > cpus:
        raise UsageError(f'--num_parallel_workers {requested} is more than the {cpus} CPUs of this machine, '
                         f'which MindSpore refuses; use at most {cpus}, or 0 to choose from the CPU count')
    if requested > 0:
        return requested
    return max(1, min(MAX_AUTO_WORKERS, len(os.sched_getaffinity(0)) // processes))


def listing_digest(root, samples):
    """SHA-256 (hex) of `(path, label)` samples, paths taken relative to `root`."""
    digest = hashlib.sha256()
    for path, label in samples:
        digest.update(f'{os.path.relpath(path, root)}\t{label}\n'.encode())
    return digest.hexdigest()


def train_transforms(height, width, crop_min_scale=CROP_SCALE[0], color_jitter=COLOR_JITTER):
    """The training transforms, from encoded image bytes (uint8, 1-D) to a float32 (3, H, W) image;
    color_jitter 0 leaves the colours alone."""
    import mindspore.dataset.vision as vision

    jitter = [vision.RandomColorAdjust(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter,
                                       hue=color_jitter / 4)] if color_jitter else []
    return [
        vision.RandomCropDecodeResize((height, width), scale=(crop_min_scale, CROP_SCALE[1]), ratio=CROP_RATIO),
        vision.RandomHorizontalFlip(),
        *jitter,
        vision.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
        vision.HWC2CHW(),
    ]


def pil_decode(encoded):
    """Encoded image bytes (uint8, 1-D) as (H, W, 3) uint8 RGB pixels, as PIL reads them for torchvision's loader,
    except an image of more than 8 bits a sample (WIDE_PIL_MODES): MindSpore's C++ Decode reads that, scaled to 8
    bits, so that the 'pil' path sees the picture the 'opencv' path sees, pixel for pixel, not a white one."""
    import mindspore.dataset.vision as vision

    with Image.open(io.BytesIO(encoded)) as image:
        if image.mode in WIDE_PIL_MODES:
            return vision.Decode()(encoded)
        return np.asarray(image.convert('RGB'))


def eval_transforms(height, width, crop_pct=EVAL_CROP_PCT, resize='opencv'):
    """The evaluation transforms, from encoded image bytes (uint8, 1-D) to a float32 (3, H, W) image. `resize`:
    'opencv' (MindSpore's C++ bilinear resize, fast, as the C++ app resizes) or 'pil' (PIL decodes, 16-bit images
    aside (pil_decode), resizes with its antialiasing bilinear filter and crops, as torchvision does: the
    authors' evaluation, pixel for pixel)."""
    import mindspore.dataset.vision as vision

    size = eval_resize_size(height, width, crop_pct)  # an int resizes the shorter side, keeping the aspect
    if resize == 'pil':
        # Pixels, not a PIL image, leave pil_decode: MindSpore takes a plain function for a C++ transform and runs
        # the transforms after it in C++ too, unless one of them (ToPIL) is PIL's.
        resized = [pil_decode, vision.ToPIL(), vision.Resize(size, vision.Inter.BILINEAR),
                   vision.CenterCrop((height, width)), vision.ToNumpy()]
    elif resize == 'opencv':
        resized = [vision.Decode(), vision.Resize(size), vision.CenterCrop((height, width))]
    else:
        raise ValueError(f'resize must be one of {", ".join(EVAL_RESIZES)}, got {resize!r}')
    return resized + [vision.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD), vision.HWC2CHW()]


class _EncodedImages:
    """Random-access source of (encoded file bytes, int32 label); decoding happens in the C++ transforms."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return np.fromfile(path, dtype=np.uint8), np.int32(label)


def _describe_set(training):
    return 'train set (--data_path)' if training else 'val set (--val_data_path)'


def check_train_val(train_path, val_path, num_classes=None):
    """Class names shared by a train and a val folder (val_path None: of the train folder alone); UsageError if
    a folder is unusable, their classes differ, or `num_classes` (when given) does not match. Lists folders
    only, so it is quick."""
    train = read_image_folder(train_path, _describe_set(training=True))
    if val_path is not None:
        check_same_classes(train, read_image_folder(val_path, _describe_set(training=False)))
    if num_classes is not None:
        check_num_classes(train, num_classes, _describe_set(training=True))
    return train.class_names


def create_dataset(data_path, *, training, batch_size, image_height, image_width, num_parallel_workers=0,
                   num_shards=1, shard_id=0, num_classes=None, seed=1, crop_min_scale=CROP_SCALE[0],
                   color_jitter=COLOR_JITTER, crop_pct=EVAL_CROP_PCT, eval_resize='opencv'):
    """The pipeline over one image folder for shard `shard_id` of `num_shards` (see the module docstring).
    For training, `seed` seeds MindSpore's dataset random generator, so the shuffle order and the augmentations
    repeat from run to run and every shard shuffles alike; the setting is process-wide and also reseeds
    Python's `random` and `numpy.random`."""
    import mindspore.dataset as ds

    if not 0 <= shard_id < num_shards:
        raise ValueError(f'shard_id {shard_id} is outside 0..{num_shards - 1}')
    workers = resolve_num_workers(num_parallel_workers, processes_sharing_cpus())
    role = _describe_set(training)
    folder = read_image_folder(data_path, role)
    if num_classes is not None:
        check_num_classes(folder, num_classes, role, scoring=not training)
    samples, unreadable = split_readable(folder.samples)
    if unreadable and shard_id == 0:
        logger.warning(describe_unreadable(unreadable, len(folder.samples), data_path))
    check_classes_keep_images(folder, samples, role)

    if training:
        per_shard = math.ceil(len(samples) / num_shards)
        steps = per_shard // batch_size
        if steps == 0:
            raise UsageError(f'{role} {data_path} has {len(samples)} readable images, {per_shard} per device: '
                             f'fewer than one batch of --batch_size {batch_size}; use a smaller --batch_size')
        ds.config.set_seed(seed)
        source = ds.GeneratorDataset(_EncodedImages(samples), ['image', 'label'], shuffle=True,
                                     num_shards=num_shards, shard_id=shard_id, python_multiprocessing=False)
        transforms = train_transforms(image_height, image_width, crop_min_scale, color_jitter)
        shard_images = steps * batch_size
    else:
        shard = samples[shard_id::num_shards]
        steps, shard_images = math.ceil(len(shard) / batch_size), len(shard)
        # MindSpore rejects an empty random-access source; an empty generator yields no batches instead.
        source_data = _EncodedImages(shard) if shard else (lambda: iter(()))
        source = ds.GeneratorDataset(source_data, ['image', 'label'], shuffle=False, python_multiprocessing=False)
        transforms = eval_transforms(image_height, image_width, crop_pct, eval_resize)

    dataset = source.map(transforms, input_columns='image', num_parallel_workers=workers)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    return DataSplit(dataset=dataset, steps_per_epoch=steps, shard_images=shard_images, total_images=len(samples),
                     class_names=folder.class_names, unreadable=unreadable, listing=listing_digest(data_path, samples))

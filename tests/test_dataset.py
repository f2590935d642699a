"""The data pipeline on real JPEGs on disk: both transforms, class indexing, sharding, bad input, corrupt files."""
import hashlib
import io
import logging
import os

import numpy as np
import pytest
from PIL import Image

from conftest import authors_preprocessing, write_image_folder
from src.utils.errors import UsageError
from src.data.dataset import (IMAGENET_MEAN, IMAGENET_STD, check_train_val, create_dataset, eval_resize_size,
                         eval_transforms, resolve_num_workers)

# Normalised pixel values lie between (0 - mean) / std and (255 - mean) / std of some channel.
LOWEST = min(-mean / std for mean, std in zip(IMAGENET_MEAN, IMAGENET_STD))
HIGHEST = max((255 - mean) / std for mean, std in zip(IMAGENET_MEAN, IMAGENET_STD))


def batches(split):
    return list(split.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True))


def fingerprint(image):
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def eval_fingerprints(paths, height, width):
    """Fingerprints of the eval transform applied to each file on its own."""
    from mindspore.dataset.transforms import Compose
    transform = Compose(eval_transforms(height, width))
    return [fingerprint(transform(np.fromfile(path, np.uint8))) for path in paths]


def image_paths(root):
    return [os.path.join(root, name, file) for name in sorted(os.listdir(root))
            for file in sorted(os.listdir(os.path.join(root, name)))]


def test_eval_resize_size_scales_the_recipe_256_for_224():
    assert eval_resize_size(224, 224) == 256
    assert eval_resize_size(32, 32) == 37
    assert eval_resize_size(224, 320) == eval_resize_size(320, 224) == 366
    assert eval_resize_size(56, 56) == 64
    assert eval_resize_size(32, 32, crop_pct=1) == 32
    assert eval_resize_size(224, 224, crop_pct=0.95) == 236


def photo_jpeg(path, grey, size, texture_seed=0):
    """A real demo photo resized to `size` (width, height), with fine grain added so that how an image is shrunk
    shows (a smooth upscaled photo looks alike under any filter), saved as a JPEG."""
    image = np.asarray(Image.fromarray(grey).resize(size, Image.BICUBIC).convert('RGB'), dtype=np.float32)
    grain = np.random.default_rng(texture_seed).normal(0, 20, image.shape)
    Image.fromarray(np.clip(image + grain, 0, 255).astype(np.uint8)).save(path, 'JPEG', quality=90)
    return str(path)


def evaluated(folder, resize):
    (images, _), = batches(create_dataset(str(folder), training=False, batch_size=8, image_height=224,
                                          image_width=224, eval_resize=resize))
    return images


@pytest.mark.parametrize('size', [(500, 375), (375, 500), (333, 500), (1024, 683), (150, 200)])
def test_eval_resize_pil_is_the_authors_evaluation_pixel_for_pixel(fashion_photos, tmp_path, size):
    os.makedirs(tmp_path / 'a')
    path = photo_jpeg(tmp_path / 'a' / 'photo.JPEG', fashion_photos[0][7], size)
    expected = authors_preprocessing(path)
    np.testing.assert_allclose(evaluated(tmp_path, 'pil')[0], expected, rtol=0, atol=1e-5)
    if min(size) > 256:  # OpenCV's bilinear resize does not antialias: what it shrinks keeps more grain than PIL's
        assert np.abs(evaluated(tmp_path, 'opencv')[0] - expected).mean() > 0.02


@pytest.mark.parametrize('size', [(341, 256), (256, 301), (256, 256), (480, 256)])
def test_eval_resize_opencv_crops_where_the_authors_crop(fashion_photos, tmp_path, size):
    """Photos whose shorter side is already 256 are not resampled, so both resizes must give the authors' pixels
    exactly: same target size, same crop offsets."""
    os.makedirs(tmp_path / 'a')
    path = photo_jpeg(tmp_path / 'a' / 'photo.JPEG', fashion_photos[0][8], size)
    for resize in ('opencv', 'pil'):
        np.testing.assert_allclose(evaluated(tmp_path, resize)[0], authors_preprocessing(path), rtol=0, atol=1e-5)


def test_worker_count_rule():
    cpus = len(os.sched_getaffinity(0))
    assert resolve_num_workers(1) == 1
    assert resolve_num_workers(0) == max(1, min(8, cpus))
    assert resolve_num_workers(0, processes=cpus) == 1
    assert resolve_num_workers(0, processes=4 * cpus) == 1
    with pytest.raises(UsageError, match=f'--num_parallel_workers {os.cpu_count() + 1} is more than the '
                                         f'{os.cpu_count()} CPUs of this machine, which MindSpore refuses'):
        resolve_num_workers(os.cpu_count() + 1)


@pytest.mark.parametrize('height, width', [(32, 32), (48, 64)])
def test_train_batches_have_the_configured_shape_type_and_range(tiny_demo, height, width):
    split = create_dataset(str(tiny_demo / 'train'), training=True, batch_size=8, image_height=height,
                           image_width=width, num_parallel_workers=2)
    assert (split.steps_per_epoch, split.shard_images, split.total_images) == (5, 40, 40)
    assert split.dataset.get_dataset_size() == 5
    got = batches(split)
    assert len(got) == 5
    for images, labels in got:
        assert images.shape == (8, 3, height, width) and images.dtype == np.float32
        assert labels.shape == (8,) and labels.dtype == np.int32
        assert LOWEST - 1e-4 <= images.min() and images.max() <= HIGHEST + 1e-4
    labels = np.concatenate([labels for _, labels in got])
    assert sorted(labels) == sorted(np.repeat(np.arange(10), 4))  # every image once per epoch
    assert not np.array_equal(labels, np.repeat(np.arange(10), 4))  # shuffled


def test_training_augments_differently_every_epoch(tmp_path, fashion_photos):
    root = write_image_folder(tmp_path, fashion_photos, {'only': 1}, size=64)
    split = create_dataset(root, training=True, batch_size=1, image_height=32, image_width=32)
    iterator = split.dataset.create_tuple_iterator(num_epochs=3, output_numpy=True)
    views = [images[0] for _ in range(3) for images, _ in iterator]
    assert len(views) == 3
    assert not np.allclose(views[0], views[1]) and not np.allclose(views[1], views[2])


@pytest.mark.parametrize('color_jitter, changes', [(0.4, True), (0.0, False)])
def test_color_jitter_zero_leaves_the_colours_alone(tmp_path, color_jitter, changes):
    # A uniform grey photo looks the same under any crop and flip: only the colour jitter can change it.
    os.makedirs(tmp_path / 'grey')
    Image.new('RGB', (48, 48), (120, 120, 120)).save(tmp_path / 'grey' / 'a.JPEG')
    split = create_dataset(str(tmp_path), training=True, batch_size=1, image_height=32, image_width=32,
                           color_jitter=color_jitter)
    iterator = split.dataset.create_tuple_iterator(num_epochs=4, output_numpy=True)
    views = [images[0] for _ in range(4) for images, _ in iterator]
    assert len(views) == 4
    assert any(not np.allclose(views[0], view) for view in views[1:]) == changes


def test_the_same_seed_shuffles_the_same_way(tiny_demo):
    orders = [np.concatenate([labels for _, labels in batches(
        create_dataset(str(tiny_demo / 'train'), training=True, batch_size=8, image_height=32, image_width=32,
                       seed=seed))]) for seed in (5, 5, 6)]
    assert np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[0], orders[2])


def test_eval_transform_resizes_crops_and_normalises_exactly(tmp_path, fashion_photos):
    # 64 x 64 is eval_resize_size(56, 56): the resize is the identity and the centre crop starts at 4.
    grey = np.asarray(Image.fromarray(fashion_photos[0][0]).resize((64, 64), Image.BICUBIC), np.int32)
    colour = np.stack([grey, grey // 2, 255 - grey], axis=-1).astype(np.uint8)  # tells the channels apart
    os.makedirs(tmp_path / 'only')
    Image.fromarray(colour).save(tmp_path / 'only' / 'photo.png')  # lossless, so the pixels are known
    split = create_dataset(str(tmp_path), training=False, batch_size=4, image_height=56, image_width=56)
    (images, labels), = batches(split)
    expected = (colour[4:60, 4:60].astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD
    assert images.shape == (1, 3, 56, 56) and images.dtype == np.float32 and labels.tolist() == [0]
    np.testing.assert_allclose(images[0], expected.transpose(2, 0, 1), atol=1e-5)


def test_eval_with_crop_pct_one_scores_an_image_stored_at_the_input_size_whole(tmp_path, fashion_photos):
    grey = fashion_photos[0][0][2:26, 2:26]  # 24 x 24, then coloured so the channels differ
    colour = np.stack([grey, grey // 2, 255 - grey], axis=-1).astype(np.uint8)
    colour = np.asarray(Image.fromarray(colour).resize((32, 32), Image.BICUBIC))
    os.makedirs(tmp_path / 'only')
    Image.fromarray(colour).save(tmp_path / 'only' / 'photo.png')
    (whole, _), = batches(create_dataset(str(tmp_path), training=False, batch_size=4, image_height=32, image_width=32,
                                         crop_pct=1))
    expected = (colour.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(whole[0], expected.transpose(2, 0, 1), atol=1e-5)
    (cropped, _), = batches(create_dataset(str(tmp_path), training=False, batch_size=4, image_height=32,
                                           image_width=32))  # the recipe's 0.875 zooms in
    assert np.abs(cropped[0] - whole[0]).max() > 0.5


@pytest.mark.parametrize('height, width', [(32, 32), (40, 72)])
def test_eval_batches_keep_the_last_partial_batch(tiny_demo, height, width):
    split = create_dataset(str(tiny_demo / 'val'), training=False, batch_size=8, image_height=height, image_width=width)
    got = batches(split)
    assert (split.steps_per_epoch, split.shard_images, split.total_images, len(got)) == (4, 30, 30, 4)
    assert [len(labels) for _, labels in got] == [8, 8, 8, 6]
    assert all(images.shape[1:] == (3, height, width) and images.dtype == np.float32 for images, _ in got)
    assert np.concatenate([labels for _, labels in got]).tolist() == np.repeat(np.arange(10), 3).tolist()


def test_classes_are_indexed_by_sorted_folder_name(tmp_path, fashion_photos):
    # Created out of order; sorted by code point, 'B' < 'a' and 'n10' < 'n9'.
    counts = {'n9': 2, 'a_class': 1, 'n10': 2, 'B_class': 1}
    write_image_folder(tmp_path, fashion_photos, counts)
    split = create_dataset(str(tmp_path), training=False, batch_size=4, image_height=32, image_width=32, num_classes=4)
    assert split.class_names == ('B_class', 'a_class', 'n10', 'n9')
    got = batches(split)
    produced = dict(zip([fingerprint(image) for images, _ in got for image in images],
                        [int(label) for _, labels in got for label in labels]))
    files = image_paths(tmp_path)
    for class_name in counts:
        own = [path for path in files if os.path.basename(os.path.dirname(path)) == class_name]
        assert {produced[key] for key in eval_fingerprints(own, 32, 32)} == {split.class_names.index(class_name)}


@pytest.mark.parametrize('num_shards, batch_size', [(1, 8), (2, 8), (3, 4), (4, 8), (7, 8)])
def test_sharded_evaluation_scores_every_image_exactly_once(tiny_demo, num_shards, batch_size):
    val = str(tiny_demo / 'val')
    seen = []
    for shard_id in range(num_shards):
        split = create_dataset(val, training=False, batch_size=batch_size, image_height=32, image_width=32,
                               num_shards=num_shards, shard_id=shard_id)
        got = batches(split)
        assert len(got) == split.steps_per_epoch == split.dataset.get_dataset_size()
        assert sum(len(labels) for _, labels in got) == split.shard_images
        assert split.total_images == 30
        seen += [fingerprint(image) for images, _ in got for image in images]
    assert sorted(seen) == sorted(eval_fingerprints(image_paths(val), 32, 32))


def test_an_empty_eval_shard_yields_no_batches(tmp_path, fashion_photos):
    write_image_folder(tmp_path, fashion_photos, {'a': 2, 'b': 1})
    sizes = []
    for shard_id in range(4):
        split = create_dataset(str(tmp_path), training=False, batch_size=8, image_height=32, image_width=32,
                               num_shards=4, shard_id=shard_id)
        sizes.append((split.shard_images, split.steps_per_epoch, sum(len(labels) for _, labels in batches(split))))
    assert sizes == [(1, 1, 1), (1, 1, 1), (1, 1, 1), (0, 0, 0)]


def test_training_shards_take_equal_steps(tiny_demo):
    for shard_id in range(3):
        split = create_dataset(str(tiny_demo / 'train'), training=True, batch_size=4, image_height=32, image_width=32,
                               num_shards=3, shard_id=shard_id)
        # 40 images over 3 shards: 14 each with the sampler's repeats, so 3 full batches of 4.
        assert (split.steps_per_epoch, split.shard_images, split.total_images) == (3, 12, 40)
        assert [labels.shape for _, labels in batches(split)] == [(4,)] * 3


def test_check_train_val_accepts_a_matching_pair(tiny_demo):
    names = check_train_val(str(tiny_demo / 'train'), str(tiny_demo / 'val'), num_classes=10)
    assert names == tuple(f'n{index:08d}' for index in range(10))


def usage_error(call, *args, **kwargs):
    with pytest.raises(UsageError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert '\n' not in message
    return message


def train(path, **kwargs):
    return create_dataset(str(path), training=True, batch_size=2, image_height=32, image_width=32, **kwargs)


def test_bad_folders_are_named_before_any_work(tmp_path, fashion_photos):
    assert usage_error(train, tmp_path / 'missing') == \
        f'train set (--data_path) {tmp_path / "missing"} does not exist'

    os.makedirs(tmp_path / 'empty')
    assert 'holds nothing; expected one folder per class' in usage_error(train, tmp_path / 'empty')

    flat = tmp_path / 'flat'
    write_image_folder(flat, fashion_photos, {'a': 3})
    for name in os.listdir(flat / 'a'):
        os.replace(flat / 'a' / name, flat / name)
    os.rmdir(flat / 'a')
    message = usage_error(create_dataset, str(flat), training=False, batch_size=2, image_height=32, image_width=32)
    assert message.startswith(f'val set (--val_data_path) {flat} holds 3 files but no folders')
    assert 'sorted into class folders' in message

    assert 'is a file' in usage_error(train, flat / os.listdir(flat)[0])

    with_empty_class = write_image_folder(tmp_path / 'with_empty', fashion_photos, {'a': 2, 'b': 2})
    os.makedirs(tmp_path / 'with_empty' / 'c')
    assert usage_error(train, with_empty_class) == \
        f'train set (--data_path) {with_empty_class}: class folder c holds no images; remove it or add its images'

    two_classes = write_image_folder(tmp_path / 'two', fashion_photos, {'a': 2, 'b': 2})
    assert usage_error(train, two_classes, num_classes=1000) == \
        f'--num_classes is 1000 but train set (--data_path) {two_classes} has 2 class folders; pass --num_classes 2'

    message = usage_error(create_dataset, two_classes, training=True, batch_size=8, image_height=32, image_width=32,
                          num_shards=2)
    assert message == (f'train set (--data_path) {two_classes} has 4 readable images, 2 per device: fewer than '
                       f'one batch of --batch_size 8; use a smaller --batch_size')


def test_a_val_set_with_other_classes_is_refused(tmp_path, fashion_photos):
    train = write_image_folder(tmp_path / 'train', fashion_photos, {'cat': 1, 'dog': 1, 'emu': 1})
    val = write_image_folder(tmp_path / 'val', fashion_photos, {'cat': 1, 'dog': 1, 'fox': 1, 'gnu': 1})
    assert usage_error(check_train_val, train, val) == (
        f'the val set has other classes than the train set: 1 only in {train} (emu); 2 only in {val} (fox, gnu); '
        f'both need the same class folders for the labels to agree')
    same = write_image_folder(tmp_path / 'same', fashion_photos, {'cat': 1, 'dog': 1, 'emu': 1})
    assert 'pass --num_classes 3' in usage_error(check_train_val, train, same, num_classes=10)


def write_corrupt_files(folder, good_jpeg):
    """Broken files as they turn up in real image sets; {file name: expected reason (start)}."""
    png = io.BytesIO()
    Image.open(io.BytesIO(good_jpeg)).save(png, 'PNG')
    gif = io.BytesIO()
    Image.open(io.BytesIO(good_jpeg)).save(gif, 'GIF')
    broken = {
        'truncated.JPEG': (good_jpeg[:len(good_jpeg) // 2], 'truncated JPEG (no end-of-image marker)'),
        # Cut inside the header: this one kills MindSpore's decoder with SIGFPE rather than raising.
        'header_only.JPEG': (good_jpeg[:300], 'cannot be read as an image (Truncated File Read)'),
        'zero_bytes.JPEG': (b'', 'empty file'),
        'text.JPEG': (b'<html>404 Not Found</html>\n', 'not an image (content of no known image format)'),
        'truncated.png': (png.getvalue()[:len(png.getvalue()) // 2], 'cannot be read as an image'),
        'animation.JPEG': (gif.getvalue(), 'GIF image; MindSpore decodes JPEG, MPO, PNG, BMP, TIFF, PPM'),
    }
    for name, (data, _) in broken.items():
        with open(os.path.join(folder, name), 'wb') as handle:
            handle.write(data)
    return {name: reason for name, (data, reason) in broken.items()}


@pytest.mark.parametrize('training', [True, False])
def test_corrupt_files_are_skipped_and_reported(tmp_path, fashion_photos, caplog, training):
    root = write_image_folder(tmp_path, fashion_photos, {'a': 6, 'b': 6}, size=64)
    good_jpeg = (tmp_path / 'a' / 'a_0.JPEG').read_bytes()
    expected = write_corrupt_files(tmp_path / 'b', good_jpeg)
    with caplog.at_level(logging.WARNING, logger='src.data.dataset'):
        split = create_dataset(root, training=training, batch_size=4, image_height=32, image_width=32)
    assert split.total_images == 12
    reasons = {os.path.basename(path): reason for path, reason in split.unreadable}
    assert reasons.keys() == expected.keys()
    for name, start in expected.items():
        assert reasons[name].startswith(start), (name, reasons[name])
    warning, = [record.getMessage() for record in caplog.records if record.name == 'src.data.dataset']
    assert warning.startswith(f'skipped 6 of 18 files in {root} that cannot be decoded: b/animation.JPEG: GIF image; ')
    # A whole epoch runs through every readable image without an error.
    assert sum(len(labels) for _, labels in batches(split)) == 12


def test_a_class_of_only_corrupt_files_is_refused(tmp_path, fashion_photos):
    root = write_image_folder(tmp_path, fashion_photos, {'a': 2, 'b': 1, 'c': 1})
    for name in ('b', 'c'):
        for image in (tmp_path / name).iterdir():
            image.write_bytes(b'')
    assert usage_error(create_dataset, root, training=False, batch_size=2, image_height=32, image_width=32) == (
        f'val set (--val_data_path) {root}: no image of class folder b, c can be decoded; '
        f'replace the broken files or remove the class')


def test_only_shard_zero_reports_corrupt_files(tmp_path, fashion_photos, caplog):
    root = write_image_folder(tmp_path, fashion_photos, {'a': 4})
    (tmp_path / 'a' / 'empty.JPEG').write_bytes(b'')
    with caplog.at_level(logging.WARNING, logger='src.data.dataset'):
        create_dataset(root, training=False, batch_size=4, image_height=32, image_width=32, num_shards=2, shard_id=1)
    assert not [record for record in caplog.records if record.name == 'src.data.dataset']

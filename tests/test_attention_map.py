"""attention_map.py on the small trained checkpoint: a picture per image of the three BAM spatial maps, with the
predicted classes, and one-line errors for bad input."""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from src.deploy.attention import FIGURE_PIXELS, spatial_maps, upsampled
from conftest import SMALL_NET, one_line_error, run_script
from src.config import parse_config
from src.data.dataset import EVAL_CROP_PCT
from src.deploy.inference import logits, network_from_checkpoint, preprocess

SIZE = 32  # SMALL_NET's input: the BAM maps are 8x8, 4x4 and 2x2


@pytest.fixture(scope='module')
def best_checkpoint(trained_run):
    output_dir, _ = trained_run
    return str(output_dir / 'train_resnet50_bam_imagenet_best.ckpt')


@pytest.fixture(scope='module')
def photos(demo_set, tmp_path_factory):
    """A folder of three val photos of different classes, one of them in a sub-folder, and the class names."""
    folder = tmp_path_factory.mktemp('attention_photos')
    os.makedirs(folder / 'more')
    val = demo_set / 'val'
    for index, class_folder in enumerate(sorted(os.listdir(val))[:3]):
        photo = sorted(os.listdir(val / class_folder))[0]
        shutil.copy(val / class_folder / photo, folder / ('more' if index == 2 else '') / photo)
    names = json.loads((demo_set / 'class_names.json').read_text(encoding='utf-8'))
    return folder, [names[key] for key in sorted(names)]


def image_files(folder):
    return sorted(os.path.join(root, name) for root, _, names in os.walk(folder) for name in names)


def test_a_picture_per_image_with_the_predicted_class(best_checkpoint, photos, demo_set, tmp_path):
    folder, class_names = photos
    result = run_script('attention_map.py', '--model_file', best_checkpoint, '--image_path', str(folder),
                        '--class_names', str(demo_set / 'class_names.json'), '--output_dir', str(tmp_path),
                        *SMALL_NET, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if ' -> ' in line]
    assert len(lines) == 3
    net = network_from_checkpoint(parse_config('test', list(SMALL_NET)), best_checkpoint)
    for image, line in zip(image_files(folder), lines):
        relative = os.path.relpath(image, folder)
        picture = tmp_path / 'attention' / (os.path.splitext(relative)[0] + '.png')
        name, rest = line.split(': ', 1)
        classes, written = rest.split(' -> ')
        assert name == relative and written == str(picture)
        with Image.open(picture) as png:
            assert png.size == FIGURE_PIXELS
        predicted = classes.split(', ')[0].rsplit(' ', 1)[0]
        expected = np.argmax(logits(net, preprocess(image, SIZE, SIZE, crop_pct=EVAL_CROP_PCT)[None])[0])
        assert predicted == class_names[expected]
    assert '3 attention pictures in' in result.stdout


def test_the_maps_vary_over_the_image_and_differ_from_each_other(best_checkpoint, demo_set):
    # In this width-8 network BAM1's spatial gate has two hidden channels, and on some photos its last ReLU
    # is off everywhere: its map is then constant, which is the network's answer, not a fault of the tool.
    val = demo_set / 'val'
    images = [str(val / folder / sorted(os.listdir(val / folder))[0]) for folder in sorted(os.listdir(val))]
    net = network_from_checkpoint(parse_config('test', list(SMALL_NET)), best_checkpoint)
    maps = spatial_maps(net, np.stack([preprocess(image, SIZE, SIZE, crop_pct=EVAL_CROP_PCT) for image in images]))
    assert [gate.shape for gate in maps] == [(len(images), SIZE // scale, SIZE // scale) for scale in (4, 8, 16)]
    shown = np.stack([[upsampled(gate[image], SIZE, SIZE) for gate in maps] for image in range(len(images))])
    spread = shown.max(axis=(2, 3)) - shown.min(axis=(2, 3))  # (image, BAM)
    varies = spread > 1e-3 * np.maximum(1.0, np.abs(shown).max(axis=(2, 3)))
    assert varies.any(axis=0).all(), spread  # every BAM's map varies over some of the photos
    assert varies.all(axis=0).sum() >= 2, spread  # and two of them over all photos
    for image in np.flatnonzero(varies.all(axis=1)):  # the colours: each map from its min to its max
        colours = (shown[image] - shown[image].min(axis=(1, 2), keepdims=True)) / spread[image][:, None, None]
        for first, second in ((0, 1), (0, 2), (1, 2)):
            assert np.abs(colours[first] - colours[second]).mean() > 0.05, (image, first, second)
    assert varies.all(axis=1).sum() >= 3  # the comparison above ran on a few photos


def test_bad_input_is_one_line(best_checkpoint, photos, tmp_path):
    folder, _ = photos
    empty = tmp_path / 'empty'
    os.makedirs(empty)
    (empty / 'notes.txt').write_text('not an image')
    wrong_names = tmp_path / 'names.json'
    wrong_names.write_text(json.dumps(['cat', 'dog']))
    cases = [
        (['--image_path', str(folder)], '--model_file is required'),
        (['--model_file', str(tmp_path / 'missing.ckpt'), '--image_path', str(folder)], 'does not exist'),
        (['--model_file', str(tmp_path / 'model.mindir'), '--image_path', str(folder)], 'must be a .ckpt'),
        (['--model_file', best_checkpoint], '--image_path is required'),
        (['--model_file', best_checkpoint, '--image_path', str(empty)], 'holds no images'),
        (['--model_file', best_checkpoint, '--image_path', str(folder), '--class_names', str(wrong_names)],
         'names 2 classes but --num_classes is 10'),
        (['--no_such_key', '1'], 'unknown option --no_such_key'),
    ]
    for arguments, message in cases:
        assert message in one_line_error(run_script('attention_map.py', *arguments, *SMALL_NET)), arguments

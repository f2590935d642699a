"""predict.py: top-5 classes of an image or a folder, from a checkpoint or a MINDIR, with the eval preprocessing."""
import json
import os
import re

import numpy as np
import pytest

from conftest import NARROW_MODEL, one_line_error, run_script
from src.config import parse_config

LINE = re.compile(r'^(?P<image>.+): (?P<classes>.+)$')


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """Demo val set, one 40 x 40 photo per class, plus its class_names.json."""
    from src.data.demo_data import build_demo_data
    return build_demo_data(str(tmp_path_factory.mktemp('predict_demo')), train_per_class=1, val_per_class=1,
                           image_size=40, seed=9)


def predictions(stdout):
    """{image: [(class, probability), ...]} of predict.py's output."""
    found = {}
    for line in stdout.splitlines():
        match = LINE.match(line)
        if match and not line.startswith('skipped '):
            found[match['image']] = [(name, float(probability)) for name, probability
                                     in (entry.rsplit(' ', 1) for entry in match['classes'].split(', '))]
    return found


def expected_top5(ckpt, image):
    """Indices of the five largest logits of the checkpoint's network on the image, eval-preprocessed."""
    from src.data.dataset import eval_transforms
    from src.deploy.inference import logits, network_from_checkpoint
    cfg = parse_config('test', list(NARROW_MODEL))
    pixels = np.fromfile(image, dtype=np.uint8)
    for transform in eval_transforms(cfg.image_height, cfg.image_width):
        pixels = transform(pixels)
    return list(np.argsort(-logits(network_from_checkpoint(cfg, ckpt), pixels[None])[0], kind='stable')[:5])


def test_one_image_from_a_checkpoint_with_class_names(narrow_exports, demo):
    image = os.path.join(demo['val'], 'n00000003', os.listdir(os.path.join(demo['val'], 'n00000003'))[0])
    result = run_script('predict.py', '--model_file', narrow_exports.ckpt, '--image_path', image,
                        '--class_names', demo['class_names.json'], '--device_target', 'CPU', *NARROW_MODEL)
    assert result.returncode == 0, result.stderr
    found = predictions(result.stdout)
    assert list(found) == [image]
    names = json.load(open(demo['class_names.json'], encoding='utf-8'))
    by_index = [names[folder] for folder in sorted(names)]
    assert [name for name, _ in found[image]] == [by_index[i] for i in expected_top5(narrow_exports.ckpt, image)]
    probabilities = [probability for _, probability in found[image]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.001


def test_a_folder_from_a_mindir_skips_what_is_not_an_image(narrow_exports, demo, tmp_path):
    folder = tmp_path / 'photos'
    os.makedirs(folder / 'more')
    for index, name in enumerate(sorted(os.listdir(demo['val_flat']))[:3]):
        target = folder / ('more' if index else '') / name
        target.write_bytes(open(os.path.join(demo['val_flat'], name), 'rb').read())
    (folder / 'notes.txt').write_text('not an image')
    result = run_script('predict.py', '--model_file', narrow_exports.mindir, '--image_path', str(folder),
                        '--batch_size', '2', '--device_target', 'CPU', *NARROW_MODEL)
    assert result.returncode == 0, result.stderr
    found = predictions(result.stdout)
    assert len(found) == 3 and sum(image.startswith('more/') for image in found) == 2
    assert all(len(classes) == 5 and all(name.startswith('class ') for name, _ in classes)
               for classes in found.values())
    assert 'skipped 1 of 4 files' in result.stdout and 'notes.txt' in result.stdout


def test_inputs_are_checked_before_the_model_loads(narrow_exports, demo, tmp_path):
    image = demo['val_flat']
    cases = [
        (['--image_path', image], '--model_file is required'),
        (['--model_file', narrow_exports.onnx, '--image_path', image], 'must end in .ckpt or .mindir'),
        (['--model_file', narrow_exports.mindir], '--image_path is required'),
        (['--model_file', narrow_exports.mindir, '--image_path', str(tmp_path / 'none')], 'does not exist'),
        (['--model_file', narrow_exports.mindir, '--image_path', image, '--class_names', narrow_exports.onnx],
         'is not JSON'),
    ]
    for arguments, message in cases:
        assert message in one_line_error(run_script('predict.py', *arguments)), arguments


def test_a_mindir_of_another_input_size_is_explained(narrow_exports, demo):
    line = one_line_error(run_script('predict.py', '--model_file', narrow_exports.mindir, '--image_path',
                                     demo['val_flat'], '--device_target', 'CPU'))
    assert 'does not take 224x224 images' in line and '--image_height/--image_width' in line


def test_class_names_must_match_the_model(narrow_exports, demo, tmp_path):
    names = tmp_path / 'names.json'
    names.write_text(json.dumps(['cat', 'dog']))
    line = one_line_error(run_script('predict.py', '--model_file', narrow_exports.mindir, '--image_path',
                                     demo['val_flat'], '--class_names', str(names), '--device_target', 'CPU',
                                     *NARROW_MODEL))
    assert 'names 2 classes but the model has 10' in line

"""The offline demo set: real Fashion-MNIST photos in the ImageNet layout, with its label and class-name files."""
import json
import os
import time

import pytest
from PIL import Image

from conftest import run_script
from src.utils.errors import UsageError
from src.data.demo_data import (CLASS_NAMES, INSTALL_HINT, build_demo_data, class_folder, encode_jpeg,
                           read_fashion_mnist)

FOLDERS = [f'n{label:08d}' for label in range(10)]


def files_of(root):
    """{relative path: bytes} of every file under root."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, 'rb') as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


def test_layout_images_and_provenance(tiny_demo):
    assert sorted(os.listdir(tiny_demo)) == ['class_names.json', 'train', 'val', 'val_flat', 'val_label.json']
    train_photos, train_labels = read_fashion_mnist('train')
    val_photos, val_labels = read_fashion_mnist('t10k')
    for split, per_class, photos, labels in (('train', 4, train_photos, train_labels),
                                              ('val', 3, val_photos, val_labels)):
        assert sorted(os.listdir(tiny_demo / split)) == FOLDERS
        for label, folder in enumerate(FOLDERS):
            names = sorted(os.listdir(tiny_demo / split / folder))
            assert len(names) == per_class
            for name in names:
                # The name carries the photo's index in its source file: same label, same pixels.
                index = int(name.rsplit('_', 1)[1].split('.')[0])
                assert labels[index] == label
                data = (tiny_demo / split / folder / name).read_bytes()
                assert data == encode_jpeg(photos[index], 32)
    with Image.open(next((tiny_demo / 'val' / FOLDERS[0]).iterdir())) as image:
        assert (image.format, image.mode, image.size) == ('JPEG', 'RGB', (32, 32))


def test_flat_val_copy_and_label_file_agree_with_the_class_folders(tiny_demo):
    by_class = {os.path.basename(path): (data, path.split(os.sep)[0])
                for path, data in files_of(tiny_demo / 'val').items()}
    flat = files_of(tiny_demo / 'val_flat')
    assert {name: data for name, (data, _) in by_class.items()} == flat
    labels = json.loads((tiny_demo / 'val_label.json').read_text())
    assert labels == {os.path.splitext(name)[0]: FOLDERS.index(folder) for name, (_, folder) in by_class.items()}


def test_class_name_file_maps_folders_in_label_order(tiny_demo):
    mapping = json.loads((tiny_demo / 'class_names.json').read_text(encoding='utf-8'))
    assert list(mapping) == sorted(mapping) == FOLDERS
    assert list(mapping.values()) == list(CLASS_NAMES)
    assert mapping[class_folder(0)] == 'T-shirt/top' and mapping[class_folder(9)] == 'Ankle boot'


def test_same_seed_same_bytes_other_seed_other_photos(tmp_path, tiny_demo):
    build_demo_data(str(tmp_path / 'again'), train_per_class=4, val_per_class=3, image_size=32, seed=3)
    assert files_of(tmp_path / 'again') == files_of(tiny_demo)
    build_demo_data(str(tmp_path / 'other'), train_per_class=4, val_per_class=3, image_size=32, seed=4)
    assert set(files_of(tmp_path / 'other' / 'train')) != set(files_of(tiny_demo / 'train'))


def test_changing_the_train_size_keeps_the_val_set(tmp_path, tiny_demo):
    build_demo_data(str(tmp_path / 'more'), train_per_class=6, val_per_class=3, image_size=32, seed=3)
    assert files_of(tmp_path / 'more' / 'val') == files_of(tiny_demo / 'val')


def test_an_existing_set_is_replaced_only_when_asked(tmp_path):
    build_demo_data(str(tmp_path), train_per_class=1, val_per_class=1, image_size=28)
    with pytest.raises(UsageError, match='already holds train, val, val_flat, val_label.json, class_names.json; '
                                         'pass --overwrite'):
        build_demo_data(str(tmp_path), train_per_class=2, val_per_class=1)
    build_demo_data(str(tmp_path), train_per_class=2, val_per_class=1, image_size=40, overwrite=True)
    assert len(files_of(tmp_path / 'train')) == 20
    assert sorted(os.listdir(tmp_path)) == ['class_names.json', 'train', 'val', 'val_flat', 'val_label.json']


def test_missing_debian_data_says_how_to_install_it(tmp_path):
    with pytest.raises(UsageError) as caught:
        build_demo_data(str(tmp_path / 'out'), source_dir=str(tmp_path / 'nowhere'))
    assert str(caught.value).endswith(f'is missing); install it with: {INSTALL_HINT}')
    assert INSTALL_HINT == 'apt-get update && apt-get install -y dataset-fashion-mnist'
    assert not os.path.exists(tmp_path / 'out')


@pytest.mark.slow
def test_the_default_set_builds_in_seconds(tmp_path):
    start = time.perf_counter()
    result = run_script('-m', 'src.data.demo_data', '--output_dir', str(tmp_path))
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('wrote 10000 train and 1000 val images of 10 classes (32x32 JPEG)')
    assert len(files_of(tmp_path / 'train')) == 10000 and len(files_of(tmp_path / 'val_flat')) == 1000
    assert seconds < 30


@pytest.mark.parametrize('args, message', [
    (['--train_per_class', '0'], "argument --train_per_class: must be between 1 and 6000, got 0"),
    (['--val_per_class', '1001'], "argument --val_per_class: must be between 1 and 1000, got 1001"),
    (['--image_size', '16'], "argument --image_size: must be between 28 and 4096, got 16"),
    (['--seed', 'x'], "argument --seed: expected a whole number, got 'x'"),
    ([], "the following arguments are required: --output_dir"),
])
def test_bad_options_give_one_line(args, message):
    result = run_script('-m', 'src.data.demo_data', *args)
    assert result.returncode == 2
    assert result.stderr == f'python -m src.data.demo_data: error: {message} (see --help)\n'


def test_an_output_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / 'file').write_text('x')
    result = run_script('-m', 'src.data.demo_data', '--output_dir', str(tmp_path / 'file'))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f'error: --output_dir {tmp_path / "file"} is a file; give a folder')

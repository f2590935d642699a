"""create_imagenet2012_label.py: the {image stem: class index} file of the inference flow, and its errors."""
import json
import os

import pytest

from conftest import REPO, run_script, write_image_folder

SCRIPT = os.path.join(REPO, 'create_imagenet2012_label.py')


def test_labels_every_image_by_stem_with_its_sorted_class_index(tmp_path, fashion_photos):
    val = write_image_folder(tmp_path / 'val', fashion_photos, {'n02': 2, 'n01': 1, 'n10': 3})
    output = tmp_path / 'labels.json'
    result = run_script(SCRIPT, '--img_path', val, '--output', str(output))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f'wrote the labels of 6 images in 3 classes to {output}\n'
    expected = {}
    for index, folder in enumerate(sorted(os.listdir(val))):
        for name in os.listdir(os.path.join(val, folder)):
            expected[os.path.splitext(name)[0]] = index
    assert json.loads(output.read_text()) == expected
    # write_image_folder numbers the photos in the order given: n02_0, n02_1, n01_2, n10_3 ...
    assert (expected['n01_2'], expected['n02_0'], expected['n10_5']) == (0, 1, 2)


def test_writes_imagenet_label_json_by_default_and_matches_the_demo_set(tmp_path, tiny_demo):
    result = run_script(SCRIPT, '--img_path', str(tiny_demo / 'val'), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / 'imagenet_label.json').read_text()) == \
        json.loads((tiny_demo / 'val_label.json').read_text())


def flat_folder(root, photos):
    write_image_folder(root, photos, {'a': 2})
    for name in os.listdir(root / 'a'):
        os.replace(root / 'a' / name, root / name)
    os.rmdir(root / 'a')
    return root


@pytest.mark.parametrize('layout, message', [
    ('missing', '--img_path {root} does not exist'),
    ('flat', '--img_path {root} holds 2 files but no folders; expected one folder per class with the images inside '
             '(root/<class>/<image>); a flat folder of images must first be sorted into class folders'),
    ('empty_class', '--img_path {root}: class folder b holds no images; remove it or add its images'),
    ('duplicates', '2 images in {root} share their file name (without extension) with another '
                   '(a/a_0.JPEG and b/a_0.JPEG, a/a_0.JPEG and b/a_0.png); labels are keyed by that name, '
                   'so rename them'),
])
def test_wrong_layouts_give_one_line_and_status_2(tmp_path, fashion_photos, layout, message):
    root = tmp_path / 'val'
    if layout == 'flat':
        flat_folder(root, fashion_photos)
    elif layout == 'empty_class':
        write_image_folder(root, fashion_photos, {'a': 1})
        os.makedirs(root / 'b')
    elif layout == 'duplicates':
        write_image_folder(root, fashion_photos, {'a': 1, 'b': 1})
        same = (root / 'a' / 'a_0.JPEG').read_bytes()
        (root / 'b' / 'a_0.JPEG').write_bytes(same)
        (root / 'b' / 'a_0.png').write_bytes(same)
    output = tmp_path / 'labels.json'
    result = run_script(SCRIPT, '--img_path', str(root), '--output', str(output))
    assert result.returncode == 2
    assert result.stderr == f'create_imagenet2012_label.py: error: {message.format(root=root)}\n'
    assert not output.exists()


def test_bad_arguments_give_one_line(tmp_path, tiny_demo):
    result = run_script(SCRIPT)
    assert (result.returncode, result.stderr) == (
        2, 'create_imagenet2012_label.py: error: the following arguments are required: --img_path (see --help)\n')
    (tmp_path / 'a_file').write_text('not a folder')
    result = run_script(SCRIPT, '--img_path', str(tiny_demo / 'val'), '--output', str(tmp_path / 'a_file' / 'x.json'))
    assert (result.returncode, result.stderr) == (
        2, f'create_imagenet2012_label.py: error: the folder of --output {tmp_path / "a_file"} is a file, not a '
           f'folder; choose another path\n')


def test_output_folders_are_made_and_the_image_list_names_the_labelled_images(tmp_path, tiny_demo):
    labels, listed = tmp_path / 'new' / 'labels.json', tmp_path / 'other' / 'images.txt'
    result = run_script(SCRIPT, '--img_path', str(tiny_demo / 'val'), '--output', str(labels), '--image_list',
                        str(listed))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f'wrote the labels of 30 images in 10 classes to {labels} and their list to {listed}\n'
    images = listed.read_text().splitlines()
    assert [os.path.splitext(os.path.basename(image))[0] for image in images] == list(json.loads(labels.read_text()))
    assert all(os.path.isfile(tiny_demo / 'val' / image) for image in images)

"""Fault cases of what a careless user feeds the commands: image files the pipeline's decoder cannot read (32-bit
integer and float TIFFs) and symbolic links that loop or lead nowhere among the images, 16-bit images under both
evaluation resizes, recipes made to exhaust memory or recursion, and metrics files that are not UTF-8. Each case
runs the real entry point in a subprocess on small real data; cheap checks pin the rules underneath against
MindSpore's own decoder.
"""
import os

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error, run_script, write_image_folder
from src.config import RECIPE_MAX_ALIASES, RECIPE_MAX_BYTES, RECIPE_MAX_DEPTH, parse_config
from src.data.image_folder import image_problem

pytestmark = pytest.mark.fault

# A narrow network on 32 x 32 images, scored whole (the test images are stored at that size).
NET = ('--base_width', '8', '--image_height', '32', '--image_width', '32', '--crop_pct', '1', '--device_target', 'CPU')
TWO_CLASSES = ('--num_classes', '2', *NET)
DECODES = 'MindSpore decodes whole-number samples of 1 to 16 bits'


def photo(fashion_photos, index):
    """Photo `index` of Fashion-MNIST as a 32 x 32 greyscale uint8 array."""
    return np.asarray(Image.fromarray(fashion_photos[0][index]).resize((32, 32), Image.BICUBIC))


def sixteen_bit(pixels):
    """A 16-bit greyscale image whose high bytes are `pixels` (uint8) and whose low bytes are noise, as a 16-bit scan
    of the same picture holds; read at 8 bits it is `pixels` again."""
    low = np.random.default_rng(0).integers(0, 256, pixels.shape)
    return Image.fromarray((pixels.astype(np.uint16) << 8 | low).astype(np.uint16))


def save(image, path, file_format):
    image.save(path, file_format)
    return path


def float_tiff(pixels, path):
    return save(Image.fromarray(pixels.astype(np.float32) / 255), path, 'TIFF')  # PIL mode F, samples in [0, 1]


def int32_tiff(pixels, path):
    return save(Image.fromarray(pixels.astype(np.int32) * 65793), path, 'TIFF')  # PIL mode I, 32-bit samples


def encoded(path):
    return np.fromfile(path, dtype=np.uint8)


# What the screen passes, MindSpore's decoder reads; what it refuses is named. 16-bit images read alike on both paths.

def test_the_screen_passes_what_the_decoder_reads_and_names_what_it_refuses(fashion_photos, tmp_path):
    import mindspore.dataset.vision as vision
    from src.data.dataset import pil_decode

    pixels = photo(fashion_photos, 0)
    refused = {
        float_tiff(pixels, tmp_path / 'float.tif'): f'TIFF of 32-bit floating-point samples; {DECODES}',
        int32_tiff(pixels, tmp_path / 'int32.tif'): f'TIFF of 32-bit samples; {DECODES}',
        # MindSpore reads a PFM, but casts its floats in [0, 1] to a black picture.
        save(Image.fromarray(pixels.astype(np.float32) / 255), tmp_path / 'float.pfm', 'PPM'):
            f'PPM of 32-bit floating-point samples; {DECODES}',
    }
    assert {path: image_problem(path) for path in refused} == refused
    for path in list(refused)[:2]:
        with pytest.raises(RuntimeError):
            vision.Decode()(encoded(path))

    colour = Image.fromarray(fashion_photos[0][1]).resize((32, 32)).convert('RGB')
    passed = [save(sixteen_bit(pixels), tmp_path / f'sixteen.{suffix}', file_format)
              for suffix, file_format in (('png', 'PNG'), ('tif', 'TIFF'), ('pgm', 'PPM'))]
    passed += [save(colour.convert(mode), tmp_path / f'{mode}.tif', 'TIFF') for mode in ('LA', 'CMYK', 'P')]
    for path in passed:
        assert image_problem(path) is None, path
        # Both evaluation paths decode it, to the same pixels.
        assert np.array_equal(pil_decode(encoded(path)), vision.Decode()(encoded(path))), path


def test_a_16_bit_png_is_the_same_picture_on_both_evaluation_paths(fashion_photos, tmp_path):
    from src.data.dataset import create_dataset
    from src.deploy.inference import preprocess

    pixels = photo(fashion_photos, 2)
    os.makedirs(tmp_path / 'a')
    deep = save(sixteen_bit(pixels), tmp_path / 'a' / 'deep.png', 'PNG')
    flat = save(Image.fromarray(pixels), tmp_path / 'a' / 'flat.png', 'PNG')
    inputs = [preprocess(path, 32, 32, crop_pct=1, resize=resize)  # as predict.py reads them
              for path in (deep, flat) for resize in ('opencv', 'pil')]
    for resize in ('opencv', 'pil'):  # and as eval.py does
        split = create_dataset(str(tmp_path), training=False, batch_size=2, image_height=32, image_width=32,
                               crop_pct=1, eval_resize=resize)
        (images, _), = split.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True)
        inputs.extend(images)
    assert all(np.array_equal(image, inputs[0]) for image in inputs)
    assert inputs[0].std() > 0.1  # a photo, not the white square PIL's own conversion made of the 16-bit file


# The entry points on a set holding such files: one training run, then eval.py and predict.py with its checkpoint.

@pytest.fixture(scope='module')
def careless_set(tmp_path_factory, fashion_photos):
    """Two class folders of 32 x 32 JPEGs, train (4 each) and val (2 each), plus in train/a a 32-bit float TIFF, a
    32-bit integer TIFF, a symbolic link to itself and one to a missing file, and in val/a the float TIFF; and a
    16-bit PNG in train/b and val/b (readable: it is kept)."""
    root = tmp_path_factory.mktemp('careless')
    write_image_folder(root / 'train', fashion_photos, {'a': 4, 'b': 4})
    write_image_folder(root / 'val', fashion_photos, {'a': 2, 'b': 2})
    pixels = photo(fashion_photos, 20)
    for split in ('train', 'val'):
        float_tiff(pixels, root / split / 'a' / 'float.tif')
        save(sixteen_bit(pixels), root / split / 'b' / 'sixteen.png', 'PNG')
    int32_tiff(pixels, root / 'train' / 'a' / 'int32.tif')
    os.symlink('loop', root / 'train' / 'a' / 'loop')
    os.symlink('no_such_photo.JPEG', root / 'train' / 'a' / 'gone.JPEG')
    return root


@pytest.fixture(scope='module')
def careless_run(careless_set, tmp_path_factory):
    """(CompletedProcess, checkpoint) of one epoch of train.py on careless_set/train, batch 4."""
    output_dir = tmp_path_factory.mktemp('careless_run') / 'out'
    result = run_script('train.py', '--data_path', str(careless_set / 'train'), '--epoch_size', '1',
                        '--batch_size', '4', '--output_dir', str(output_dir), *TWO_CLASSES)
    checkpoints = sorted((output_dir / 'ckpt').glob('*.ckpt')) if result.returncode == 0 else []
    return result, checkpoints[-1] if checkpoints else None


def assert_carried_on(result):
    output = result.stdout + result.stderr
    assert result.returncode == 0 and 'Traceback' not in output, output[-3000:]
    return output


@pytest.mark.slow
def test_train_skips_and_names_files_the_decoder_cannot_read(careless_run, careless_set):
    result, checkpoint = careless_run
    output = assert_carried_on(result)
    assert checkpoint is not None, output[-3000:]
    assert (f'skipped 4 of 13 files in {careless_set / "train"} that cannot be decoded: '
            f'a/float.tif: TIFF of 32-bit floating-point samples; {DECODES}; '
            f'a/gone.JPEG: cannot be opened (No such file or directory); '
            f'a/int32.tif: TIFF of 32-bit samples; {DECODES}; '
            f'a/loop: cannot be opened (Too many levels of symbolic links)') in output


@pytest.mark.slow
def test_eval_with_the_pil_resize_skips_the_float_tiff_and_scores_the_16_bit_png(careless_run, careless_set,
                                                                                tmp_path):
    _, checkpoint = careless_run
    assert checkpoint, 'train.py made no checkpoint (test_train_skips_and_names_files_the_decoder_cannot_read)'
    result = run_script('eval.py', '--checkpoint_path', str(checkpoint), '--val_data_path', str(careless_set / 'val'),
                        '--eval_resize', 'pil', '--batch_size', '4', '--output_dir', str(tmp_path / 'eval'),
                        *TWO_CLASSES)
    output = assert_carried_on(result)
    assert (f'skipped 1 of 6 files in {careless_set / "val"} that cannot be decoded: '
            f'a/float.tif: TIFF of 32-bit floating-point samples; {DECODES}') in output
    assert f'{checkpoint}: top1 ' in output and '(5 images, ' in output  # the 16-bit PNG among them


@pytest.fixture(scope='module')
def untrained_checkpoint(tmp_path_factory):
    """A randomly initialised network of NET's width for 10 classes (seeded): unlike one trained for an epoch on a
    few photos, it ranks its classes differently for different pictures, so a changed picture shows."""
    import mindspore as ms
    from src.engine.checkpoint import save_atomically
    from src.models.resnet import resnet50_bam

    ms.set_seed(0)
    return save_atomically(resnet50_bam(num_classes=10, base_width=8),
                           str(tmp_path_factory.mktemp('untrained') / 'untrained.ckpt'))


def test_predict_reads_a_16_bit_png_as_its_8_bit_twin_with_the_pil_resize(untrained_checkpoint, fashion_photos,
                                                                         tmp_path):
    pixels = photo(fashion_photos, 30)
    folder = tmp_path / 'photos'
    folder.mkdir()
    save(sixteen_bit(pixels), folder / 'deep.png', 'PNG')
    save(Image.fromarray(pixels), folder / 'flat.png', 'PNG')
    int32_tiff(pixels, folder / 'scan.tif')
    result = run_script('predict.py', '--model_file', untrained_checkpoint, '--image_path', str(folder),
                        '--eval_resize', 'pil', '--num_classes', '10', *NET)
    assert_carried_on(result)
    lines = dict(line.split(': ', 1) for line in result.stdout.splitlines() if line.startswith(('deep', 'flat')))
    assert lines.keys() == {'deep.png', 'flat.png'} and lines['deep.png'] == lines['flat.png'], result.stdout
    assert (f'skipped 1 of 3 files in {folder} that cannot be decoded: scan.tif: TIFF of 32-bit samples; '
            f'{DECODES}') in result.stdout


# Bad input refused in one line with exit status 2, at once: before MindSpore starts.

def alias_bomb():
    """'Billion laughs' under one key in 294 bytes: 9 strings, then 7 levels of 9 aliases each of the level before,
    9 ** 8 strings when spelled out (the message quoting them once ran to 350 MB)."""
    names = 'abcdefgh'
    levels = ['&a [' + ','.join(['"lol"'] * 9) + ']']
    levels += [f'&{name} [' + ','.join([f'*{before}'] * 9) + ']' for before, name in zip(names, names[1:])]
    return 'lr_init: [' + ','.join(levels) + ']\n'


@pytest.mark.parametrize('content, message', [
    (alias_bomb(), f'repeats values through more than {RECIPE_MAX_ALIASES} YAML aliases (*name)'),
    ('lr_init: ' + '[' * 5000 + ']' * 5000 + '\n', f'nests lists or mappings more than {RECIPE_MAX_DEPTH} deep'),
    ('# a comment\n' * (RECIPE_MAX_BYTES // 12 + 1), f'is larger than {RECIPE_MAX_BYTES // 1024} KiB'),
], ids=['alias_bomb', 'nested_5000_deep', 'oversized'])
def test_a_recipe_beyond_what_a_recipe_needs_is_one_line(content, message, tmp_path):
    recipe = tmp_path / 'recipe.yaml'
    recipe.write_text(content)
    line = one_line_error(run_script('train.py', '--config', str(recipe), timeout=60))
    assert line.startswith(f'train.py: error: --config {recipe} ') and message in line, line


def test_a_recipe_value_is_quoted_short_however_large(tmp_path, capsys):
    recipe = tmp_path / 'recipe.yaml'
    recipe.write_text(f'lr_init: &a [{", ".join(["1"] * 8)}]\nepoch_size: [*a, *a, *a, *a, *a, *a, *a, *a]\n'
                      f'name: {"x" * 50000}\n')
    with pytest.raises(SystemExit):
        parse_config('t', ['--config', str(recipe)], command='train', prog='train.py')
    assert capsys.readouterr().err == (f'train.py: error: --config {recipe}: lr_init must be a number, got '
                                       f'[1, 1, 1, 1, 1, 1, ...] (see --help)\n')
    recipe.write_text(f'name: [{"x" * 50000}]\n')
    with pytest.raises(SystemExit):
        parse_config('t', ['--config', str(recipe)], command='train', prog='train.py')
    assert len(capsys.readouterr().err) < 200


def test_a_symbolic_link_loop_among_the_class_folders_is_one_line(tmp_path, fashion_photos):
    root = write_image_folder(tmp_path / 'train', fashion_photos, {'a': 4})
    os.symlink('b', tmp_path / 'train' / 'b')
    line = one_line_error(run_script('train.py', '--data_path', root, *TWO_CLASSES, timeout=60))
    assert line == (f'train.py: error: train set (--data_path) {root}: b cannot be followed (a symbolic link that '
                    f'loops or whose target is missing); remove it or point it at the class folder')


def test_metrics_files_that_are_not_utf8_or_not_csv_are_one_line(tmp_path):
    def error():
        return one_line_error(run_script('-m', 'src.engine.plots', '--output_dir', str(tmp_path), timeout=60))

    steps, epochs = tmp_path / 'train_steps.csv', tmp_path / 'epochs.csv'
    steps.write_bytes(b'epoch,step,global_step,loss,lr\n1,1,1,2.3,0.1\n1,2,2,2.2\xff,0.1\n')
    epochs.write_text('epoch,loss,top1,top5\n')
    assert error().endswith(f'error: {steps} line 3 is not UTF-8 text as train.py writes it; the file is damaged: '
                            f'restore it from a copy, or delete that line')
    steps.write_text('epoch,step,global_step,loss,lr\n1,1,1,2.3,0.1\n')
    epochs.write_text('epoch,loss,top1,top5\n1,2.3,"' + '9' * 200000 + '",0.5\n')  # beyond the csv module's limit
    assert error().endswith(f'error: {epochs} line 2 is not CSV as train.py writes it (field larger than field limit '
                            f'(131072)); the file is damaged: restore it from a copy, or delete that line')

"""Image sets in the ImageNet folder layout, `root/<class>/<image>`: which classes and files they hold,
which files MindSpore's decoder cannot read, and the `{image stem: class index}` label map.

Classes are indexed by their sorted folder names, so the same folders give the same labels everywhere:
training, evaluation, the label file of the inference flow. Hidden entries (names starting with '.') are
ignored; every other file in a class folder is screened by its content (`image_problem`), and one the decoder
could not read is skipped and named, as is a symbolic link there that loops or leads nowhere (among the class
folders such a link is an error: leaving it out would shift the labels of the classes after it). The
inference flow follows the same rule: its label script lists the images kept here, and the C++ app
classifies that list. Nothing here imports MindSpore, so the label script and the checks of a command line
stay fast.
"""
import math
import os
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from src.utils.errors import UsageError, some

# Formats MindSpore's Decode reads (by content, not by file extension); GIF and WEBP need PIL and are not used.
DECODABLE_FORMATS = ('JPEG', 'MPO', 'PNG', 'BMP', 'TIFF', 'PPM')
JPEG_FORMATS = ('JPEG', 'MPO')  # MPO: a JPEG with further pictures appended, as some cameras write
JPEG_END_OF_IMAGE = b'\xff\xd9'
# Writers may pad a JPEG after its end-of-image marker; a truncated file has no marker at all (inside the
# entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so FF D9 there means the end).
JPEG_TAIL_BYTES = 1024
# MindSpore's Decode reads a non-JPEG with OpenCV at 8 bits a channel, and OpenCV reads a TIFF so through libtiff's
# RGBA interface, which takes samples of these sizes only and no floating-point ones ('Sorry, can not handle images
# with 32-bit samples'): 32-bit integer and float TIFFs, as scientific cameras write, fail in the pipeline. Tags:
TIFF_BITS_PER_SAMPLE, TIFF_SAMPLE_FORMAT, TIFF_FLOAT_SAMPLES = 258, 339, 3
TIFF_DECODABLE_BITS = (1, 2, 4, 8, 16)
LISTED_PROBLEMS = 10


@dataclass(frozen=True)
class ImageFolder:
    """The classes (sorted folder names; label = position) and `(path, label)` of every image, in class
    order and by file name within a class."""
    root: str
    class_names: tuple
    samples: tuple


def _visible_entries(path, what):
    try:
        with os.scandir(path) as listing:
            return sorted((entry for entry in listing if not entry.name.startswith('.')), key=lambda entry: entry.name)
    except OSError as error:
        raise UsageError(f'{what}: cannot list {path} ({error.strerror})') from error


def _kind(entry):
    """What a folder entry leads to, following symbolic links: 'folder', 'file', 'broken link' (a link that loops or
    whose target is missing) or None (a FIFO, a device, a socket: never read)."""
    try:
        if entry.is_dir():
            return 'folder'
        if entry.is_file():
            return 'file'
    except OSError:  # a link loop fails to be followed; a missing target just makes both tests false
        return 'broken link'
    return 'broken link' if entry.is_symlink() else None


def read_image_folder(path, what='image set'):
    """List `path`, raising UsageError (naming `what`, e.g. 'train set (--data_path)') when it is missing,
    holds no class folders or a symbolic link that cannot be followed, or has a class folder without images.
    A link in a class folder that cannot be followed is kept as a file: `image_problem` reports it."""
    if not os.path.exists(path):
        raise UsageError(f'{what} {path} does not exist')
    if not os.path.isdir(path):
        raise UsageError(f'{what} {path} is a file; give the folder that holds one folder per class')
    kinds = [(entry, _kind(entry)) for entry in _visible_entries(path, what)]
    broken = [entry.name for entry, kind in kinds if kind == 'broken link']
    if broken:  # perhaps a class folder on a drive that is not mounted: leaving it out would shift every label
        raise UsageError(f'{what} {path}: {some(broken)} cannot be followed (a symbolic link that loops or whose '
                         f'target is missing); remove it or point it at the class folder')
    class_dirs = [entry for entry, kind in kinds if kind == 'folder']
    if not class_dirs:
        loose_files = sum(kind == 'file' for _, kind in kinds)
        found = f'{loose_files} files but no folders' if loose_files else 'nothing'
        raise UsageError(f'{what} {path} holds {found}; expected one folder per class with the images inside '
                         f'(root/<class>/<image>); a flat folder of images must first be sorted into class folders')
    samples = []
    for label, class_dir in enumerate(class_dirs):
        images = [entry.path for entry in _visible_entries(class_dir.path, what)
                  if _kind(entry) in ('file', 'broken link')]
        if not images:
            raise UsageError(f'{what} {path}: class folder {class_dir.name} holds no images; '
                             f'remove it or add its images')
        samples.extend((image, label) for image in images)
    return ImageFolder(path, tuple(entry.name for entry in class_dirs), tuple(samples))


def check_num_classes(folder, num_classes, what='image set', scoring=False):
    """UsageError unless the folder has exactly `num_classes` classes. For training it says which value to pass;
    for `scoring` a trained network, whose class count is fixed, it says that the folders must match it."""
    found = len(folder.class_names)
    if num_classes == found:
        return
    if scoring:
        raise UsageError(f'{what} {folder.root} has {found} class folders but the network classifies {num_classes} '
                         f'classes (--num_classes): the set needs one folder for each class the network was trained '
                         f'on, named as in training')
    raise UsageError(f'--num_classes is {num_classes} but {what} {folder.root} has {found} class folders; '
                     f'pass --num_classes {found}')


def check_same_classes(train, val):
    """UsageError unless two folders have the same class folder names (the labels would otherwise differ)."""
    if train.class_names == val.class_names:
        return
    only_train = sorted(set(train.class_names) - set(val.class_names))
    only_val = sorted(set(val.class_names) - set(train.class_names))
    differences = [f'{len(names)} only in {folder.root} ({some(names)})'
                   for names, folder in ((only_train, train), (only_val, val)) if names]
    raise UsageError(f'the val set has other classes than the train set: {"; ".join(differences)}; '
                     f'both need the same class folders for the labels to agree')


def image_problem(path):
    """Why MindSpore's decoder would fail on (or be killed by) this file, or None if it can read it.

    The check is cheap where it matters: a JPEG's header is parsed and its end-of-image marker looked
    for, which catches empty, truncated and non-image files without decoding; a PNG's chunk checksums
    are verified up to its end chunk, also without decoding. Only rarer formats without an end marker
    (BMP, TIFF, PPM) are decoded in full. Samples the decoder cannot take (32-bit integer and floating-point
    TIFFs, float PFMs) are refused from the header. Damage inside a JPEG's compressed data is not detected: the
    decoder fills it in with a warning and carries on.

    Cost, in CPU time on one core of the 2-core AMD EPYC (KVM) CI machine, best of 5 passes: 39.3 us a file over
    the 10,000 JPEGs of the demo set (38.7 before the sample check, which reads tags the header already holds);
    about 0.3 ms for a small TIFF, which is decoded, and 0.2 ms for a refused 32-bit one, which is not.
    """
    try:
        size = os.path.getsize(path)
    except OSError as error:  # a symbolic link that loops or whose target is missing
        return f'cannot be opened ({error.strerror})'
    if size == 0:
        return 'empty file'
    try:
        with open(path, 'rb') as handle:
            with Image.open(handle) as image:  # parses the header only
                kind, (width, height) = image.format, image.size
                if kind not in DECODABLE_FORMATS:
                    return f'{kind} image; MindSpore decodes {", ".join(DECODABLE_FORMATS)}'
                if not width or not height:
                    return f'{kind} header says {width}x{height} pixels'
                samples = _undecodable_samples(image)
                if samples:
                    return f'{kind} of {samples}; MindSpore decodes whole-number samples of 1 to 16 bits'
                if kind == 'PNG':
                    image.verify()
                elif kind not in JPEG_FORMATS:
                    image.load()
            if kind in JPEG_FORMATS:
                handle.seek(max(0, size - JPEG_TAIL_BYTES))
                if JPEG_END_OF_IMAGE not in handle.read():
                    return 'truncated JPEG (no end-of-image marker)'
                # Every 8x8 block of a JPEG costs at least one bit of coded data, so a file smaller than that
                # cannot hold the image its header announces; the decoder would invent the rest.
                least = math.ceil(width / 8) * math.ceil(height / 8) // 8
                if size < least:
                    return (f'JPEG of {size} bytes cannot hold the {width}x{height} pixels its header announces '
                            f'(at least {least} bytes): damaged header')
    except UnidentifiedImageError:
        return 'not an image (content of no known image format)'
    # Damaged files and unreadable ones surface as several exception types (OSError, SyntaxError, ValueError,
    # struct errors, ...); any of them means the file cannot be used, and the reason is reported.
    except Exception as error:  # pylint: disable=broad-except
        return f'cannot be read as an image ({str(error) or type(error).__name__})'
    return None


def _undecodable_samples(image):
    """The samples of an opened image that MindSpore's decoder cannot take (e.g. '32-bit floating-point samples'), or
    None. Read from the header: a TIFF's tags (see TIFF_DECODABLE_BITS), and a PFM's floats, which OpenCV would
    truncate to a black picture."""
    if image.format == 'TIFF':
        bits = _tag_values(image, TIFF_BITS_PER_SAMPLE, default=1)
        if TIFF_FLOAT_SAMPLES in _tag_values(image, TIFF_SAMPLE_FORMAT, default=1):
            return f'{max(bits)}-bit floating-point samples'
        other = [size for size in bits if size not in TIFF_DECODABLE_BITS]
        return f'{other[0]}-bit samples' if other else None
    return '32-bit floating-point samples' if image.mode == 'F' else None  # a PFM, PIL's only other float mode here


def _tag_values(image, tag, default):
    value = image.tag_v2.get(tag, default)
    return value if isinstance(value, tuple) else (value,)


def split_readable(samples):
    """(readable samples, ((path, reason), ...) of the unreadable ones), both in the given order."""
    readable, unreadable = [], []
    for path, label in samples:
        problem = image_problem(path)
        if problem is None:
            readable.append((path, label))
        else:
            unreadable.append((path, problem))
    return tuple(readable), tuple(unreadable)


def check_classes_keep_images(folder, readable, what='image set'):
    """UsageError if some class has no readable image left: a class without examples cannot be learnt or
    scored, so it is as unusable as an empty class folder."""
    kept = {label for _, label in readable}
    lost = [name for label, name in enumerate(folder.class_names) if label not in kept]
    if lost:
        raise UsageError(f'{what} {folder.root}: no image of class folder {some(lost)} can be decoded; '
                         f'replace the broken files or remove the class')


def describe_unreadable(unreadable, total, root):
    """One line naming the skipped files (the first few) and their count."""
    listed = '; '.join(f'{os.path.relpath(path, root)}: {reason}' for path, reason in unreadable[:LISTED_PROBLEMS])
    more = f'; and {len(unreadable) - LISTED_PROBLEMS} more' if len(unreadable) > LISTED_PROBLEMS else ''
    return f'skipped {len(unreadable)} of {total} files in {root} that cannot be decoded: {listed}{more}'


@dataclass(frozen=True)
class LabelledImages:
    """The images of a class-folder set that the pipelines read, as the inference flow needs them: `labels`
    {image file name without extension: class index} (result files are named after the stems), `images` their
    paths relative to the set's root in label order, and `unreadable` the skipped `(path, reason)` pairs out
    of `total` files."""
    labels: dict
    images: tuple
    unreadable: tuple
    total: int


def labelled_images(path, what='image folder'):
    """The readable images of a class-folder set (the same ones training and evaluation read) with their
    labels. UsageError on a bad layout, a class left without readable images, or two images sharing a stem,
    which would make their labels ambiguous."""
    folder = read_image_folder(path, what)
    readable, unreadable = split_readable(folder.samples)
    check_classes_keep_images(folder, readable, what)
    images = tuple(os.path.relpath(image, path) for image, _ in readable)
    return LabelledImages(labels_by_stem(readable, path), images, unreadable, len(folder.samples))


def labels_by_stem(readable, root):
    """{image file name without extension: class index} of `readable` (path, label) samples under `root`;
    UsageError if two images share a stem, which would make their labels ambiguous."""
    labels, first_seen, duplicates = {}, {}, []
    for image, label in readable:
        stem = os.path.splitext(os.path.basename(image))[0]
        if stem in labels:
            duplicates.append(f'{os.path.relpath(first_seen[stem], root)} and {os.path.relpath(image, root)}')
        else:
            labels[stem] = label
            first_seen[stem] = image
    if duplicates:
        raise UsageError(f'{len(duplicates)} images in {root} share their file name (without extension) with '
                         f'another ({some(duplicates, 2)}); labels are keyed by that name, so rename them')
    return labels

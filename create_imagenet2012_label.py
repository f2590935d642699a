"""Write the label file of the inference flow: {image file name without extension: class index} for a val
set in class folders (root/<class>/<image>, classes indexed by sorted folder name, as in training).

    python create_imagenet2012_label.py --img_path DIR [--output FILE] [--image_list FILE] [--num_classes N]

Only the images eval.py reads are labelled: hidden files are ignored, and files its decoder cannot read
(empty, truncated, not an image) are skipped and named. --num_classes N, the class count of the model to score,
refuses a folder with another number of class folders, as eval.py does. --image_list also writes those images, one
path per line relative to DIR, for the C++ app's --image_list, so that the app, the labels and eval.py score the same
files; a file whose name holds a line break cannot be listed so, and is skipped and named (the app skips it too).
postprocess.py matches each result file <image stem>_0.bin of the app to its label by the stem, so every image
needs its own file name across all classes. Every file is checked, which takes minutes for a large folder: progress
goes to stderr every --progress_seconds.
"""
from src.utils.interrupts import answer_signals_if_main

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import argparse
import os

from src.utils.errors import OneLineParser, run_main, some
from src.utils.files import check_output_dir, write_json, write_text_atomically
from src.data.image_folder import (check_classes_keep_images, check_num_classes, describe_unreadable, labels_by_stem,
                              read_image_folder, split_readable)
from src.utils.progress import INTERVAL_SECONDS, Progress

DEFAULT_OUTPUT = 'imagenet_label.json'
LISTED_NAMES = 10


def has_line_break(path):
    return '\n' in path or '\r' in path


def describe_line_breaks(paths, root):
    """One line naming the files left out for a line break in their name (escaped), relative to root."""
    names = [os.path.relpath(path, root).replace('\n', '\\n').replace('\r', '\\r') for path in paths]
    one = len(names) == 1
    return (f'skipped {len(names)} {"file" if one else "files"} in {root} whose name holds a line break, which a '
            f'list of one path per line cannot carry; rename {"it" if one else "them"}: {some(names, LISTED_NAMES)}')


def screen(samples, progress_seconds):
    """(readable samples, unreadable (path, reason) pairs), as src.data.image_folder.split_readable, with a progress line
    on stderr every `progress_seconds` (scripts/infer_common.sh shows these lines as they come)."""
    progress = Progress(len(samples), 'checking', interval=progress_seconds)
    readable, unreadable = [], []
    for sample in samples:
        kept, lost = split_readable([sample])
        readable.extend(kept)
        unreadable.extend(lost)
        progress.advance(1)
    return readable, unreadable


def main():
    # Its own options, not the shared settings: it lists a folder for the C++ flow, with no network or recipe.
    parser = OneLineParser(description=__doc__.split('\n\n', 1)[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--img_path', required=True, help='val images, one folder per class')
    parser.add_argument('--output', default=DEFAULT_OUTPUT, help='label file to write')
    parser.add_argument('--image_list', help="also write the labelled images' paths (relative to --img_path, one "
                                             "per line) to this file, for the C++ app's --image_list")
    parser.add_argument('--num_classes', type=int, help="the model's class count: refuse a folder with another "
                                                        "number of class folders, as eval.py does")
    parser.add_argument('--progress_seconds', type=float, default=INTERVAL_SECONDS,
                        help='progress on stderr at most this often (0: after every image)')
    args = parser.parse_args()
    if args.num_classes is not None and args.num_classes < 1:
        parser.error(f'--num_classes must be a positive integer, got {args.num_classes}')
    if args.progress_seconds < 0:
        parser.error(f'--progress_seconds must be 0 or more, got {args.progress_seconds}')
    outputs = {'--output': args.output, '--image_list': args.image_list}
    for option, path in outputs.items():
        if path is not None:
            check_output_dir(os.path.dirname(os.path.abspath(path)), f'the folder of {option}')
    folder = read_image_folder(args.img_path, '--img_path')
    if args.num_classes is not None:
        check_num_classes(folder, args.num_classes, '--img_path', scoring=True)
    unlistable = [path for path, _ in folder.samples if has_line_break(path)]
    if unlistable:
        print(describe_line_breaks(unlistable, args.img_path))
    readable, unreadable = screen([sample for sample in folder.samples if not has_line_break(sample[0])],
                                  args.progress_seconds)
    if unreadable:
        print(describe_unreadable(unreadable, len(folder.samples), args.img_path))
    check_classes_keep_images(folder, readable, '--img_path')
    labels = labels_by_stem(readable, args.img_path)
    write_json(args.output, labels)
    if args.image_list:
        write_text_atomically(args.image_list, ''.join(f'{os.path.relpath(image, args.img_path)}\n'
                                                       for image, _ in readable))
    listed = f' and their list to {args.image_list}' if args.image_list else ''
    print(f'wrote the labels of {len(labels)} images in {len(set(labels.values()))} classes to '
          f'{args.output}{listed}')


if __name__ == '__main__':
    run_main(main)

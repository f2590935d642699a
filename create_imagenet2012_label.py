"""Write the label file of the inference flow: {image file name without extension: class index} for a val
set in class folders (root/<class>/<image>, classes indexed by sorted folder name, as in training).

    python create_imagenet2012_label.py --img_path DIR [--output FILE] [--image_list FILE]

Only the images eval.py reads are labelled: hidden files are ignored, and files its decoder cannot read
(empty, truncated, not an image) are skipped and named. --image_list also writes those images, one path per
line relative to DIR, for the C++ app's --image_list, so that the app, the labels and eval.py score the same
files. postprocess.py matches each result file <image stem>_0.bin of the app to its label by the stem, so
every image needs its own file name across all classes.
"""
import argparse
import os

from src.errors import OneLineParser, run_main
from src.files import check_output_dir, write_json, write_text_atomically
from src.image_folder import describe_unreadable, labelled_images

DEFAULT_OUTPUT = 'imagenet_label.json'


def main():
    parser = OneLineParser(description=__doc__.split('\n\n', 1)[0],
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--img_path', required=True, help='val images, one folder per class')
    parser.add_argument('--output', default=DEFAULT_OUTPUT, help='label file to write')
    parser.add_argument('--image_list', help="also write the labelled images' paths (relative to --img_path, one "
                                             "per line) to this file, for the C++ app's --image_list")
    args = parser.parse_args()
    outputs = {'--output': args.output, '--image_list': args.image_list}
    for option, path in outputs.items():
        if path is not None:
            check_output_dir(os.path.dirname(os.path.abspath(path)), f'the folder of {option}')
    found = labelled_images(args.img_path, '--img_path')
    if found.unreadable:
        print(describe_unreadable(found.unreadable, found.total, args.img_path))
    write_json(args.output, found.labels)
    if args.image_list:
        write_text_atomically(args.image_list, ''.join(f'{image}\n' for image in found.images))
    listed = f' and their list to {args.image_list}' if args.image_list else ''
    print(f'wrote the labels of {len(found.labels)} images in {len(set(found.labels.values()))} classes to '
          f'{args.output}{listed}')


if __name__ == '__main__':
    run_main(main)

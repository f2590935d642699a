"""Write the label file of the inference flow: {image file name without extension: class index} for a val
set in class folders (root/<class>/<image>, classes indexed by sorted folder name, as in training).

    python create_imagenet2012_label.py --img_path DIR [--output FILE]

postprocess.py matches each result file <image stem>_0.bin of the inference app to its label by the stem,
so every image needs its own file name across all classes.
"""
import argparse
import json

from src.config import OneLineParser, UsageError, run_main
from src.image_folder import image_labels

DEFAULT_OUTPUT = 'imagenet_label.json'


def main():
    parser = OneLineParser(description=__doc__.split('\n\n', 1)[0],
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--img_path', required=True, help='val images, one folder per class')
    parser.add_argument('--output', default=DEFAULT_OUTPUT, help='label file to write')
    args = parser.parse_args()
    labels = image_labels(args.img_path, '--img_path')
    try:
        with open(args.output, 'w', encoding='utf-8') as handle:
            json.dump(labels, handle, indent=1)
            handle.write('\n')
    except OSError as error:
        raise UsageError(f'cannot write --output {args.output}: {error.strerror}') from error
    print(f'wrote the labels of {len(labels)} images in {len(set(labels.values()))} classes to {args.output}')


if __name__ == '__main__':
    run_main(main)

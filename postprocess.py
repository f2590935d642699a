"""Top-1 and top-5 accuracy of the inference app's results (ascend310_infer, scripts/run_infer_*.sh).

  python postprocess.py --result_path DIR --label_path FILE

DIR holds one `<image stem>_0.bin` per image: the float32 logits the app wrote (its result_Files/ folder).
FILE is the JSON {image stem: class index} that create_imagenet2012_label.py writes for the same image
folder. Every result needs a label and every label a result, and the model's class count (logits per result) must
be the folder's (its highest label + 1, as every class folder keeps an image), as eval.py requires. Prints
  Total data: N, top1 accuracy: x, top5 accuracy: y.
"""
from src.utils.interrupts import answer_signals_if_main

answer_signals_if_main(__name__)  # before any other import starts a thread: see src/utils/interrupts.py

import os
import sys
from collections import Counter

import numpy as np

# The parser of every entry point: errors on one line with exit status 2.
from src.engine.metrics import count_correct
from src.utils.errors import OneLineParser, UsageError, run_main, some
from src.utils.files import read_json

RESULT_SUFFIX = '_0.bin'
FLOAT32_BYTES = 4


def read_labels(path):
    """{image stem: class index} from the label file, or a UsageError saying what is wrong with it."""
    labels = read_json(path, 'label file', ' (make it with create_imagenet2012_label.py)')
    if not isinstance(labels, dict) or not labels:
        raise UsageError(f'label file {path} must be a non-empty JSON object {{image stem: class index}}')
    bad = [stem for stem, label in labels.items() if isinstance(label, bool) or not isinstance(label, int) or label < 0]
    if bad:
        raise UsageError(f'label file {path}: {len(bad)} labels are not class indices (non-negative integers): '
                         f'{some(bad)}')
    return labels


def read_results(folder):
    """{image stem: float32 logits} of every result file; all must hold the same number of logits."""
    if not os.path.isdir(folder):
        raise UsageError(f'result folder {folder} does not exist (run the inference app first)')
    names = sorted(name for name in os.listdir(folder) if name.endswith(RESULT_SUFFIX))
    if not names:
        raise UsageError(f'result folder {folder} holds no *{RESULT_SUFFIX} files')
    sizes = {name: os.path.getsize(os.path.join(folder, name)) for name in names}
    expected = Counter(sizes.values()).most_common(1)[0][0]  # the usual size; the odd ones are named
    wrong = [name for name, size in sizes.items() if size != expected]
    if expected == 0 or expected % FLOAT32_BYTES:
        raise UsageError(f'result files in {folder} hold {expected} bytes, not a whole number of float32 logits')
    if wrong:
        raise UsageError(f'{len(wrong)} result files in {folder} are not {expected} bytes '
                         f'({expected // FLOAT32_BYTES} float32 logits) like the others: {some(wrong)}')
    return {name[:-len(RESULT_SUFFIX)]: np.fromfile(os.path.join(folder, name), dtype=np.float32) for name in names}


def accuracy(results, labels, label_path):
    """(images, top-1, top-5) over the images that have both a result and a label; they must be the same set."""
    unlabelled = results.keys() - labels.keys()
    if unlabelled:
        raise UsageError(f'{len(unlabelled)} result files have no label in {label_path}: '
                         f'{some(sorted(stem + RESULT_SUFFIX for stem in unlabelled))}; was the label file made from '
                         f'the same image folder?')
    missing = labels.keys() - results.keys()
    if missing:
        raise UsageError(f'{len(missing)} images of {label_path} have no result file: {some(sorted(missing))}; '
                         f'was inference run on every image of the labelled folder?')
    stems = sorted(results)
    logits = np.stack([results[stem] for stem in stems])
    targets = np.array([labels[stem] for stem in stems])
    num_classes = logits.shape[1]
    unknown = [stem for stem, target in zip(stems, targets) if target >= num_classes]
    if unknown:
        raise UsageError(f'{len(unknown)} labels in {label_path} are not classes of the {num_classes}-class '
                         f'model: {some(f"{stem} -> {labels[stem]}" for stem in unknown)}')
    label_classes = int(targets.max()) + 1
    if label_classes < num_classes:
        raise UsageError(f'{label_path} labels {label_classes} classes but the results hold {num_classes} logits '
                         f'each, from a {num_classes}-class model; as eval.py requires, score it on a val set with one '
                         f'folder for each class it was trained on, named as in training')
    non_finite = [stem for stem, row in zip(stems, logits) if not np.isfinite(row).all()]
    if non_finite:
        raise UsageError(f'{len(non_finite)} of {len(stems)} result files hold NaN or infinite logits, which are not '
                         f'answers: {some(stem + RESULT_SUFFIX for stem in non_finite)}; the model or its weights '
                         f'are damaged')
    top1, top5 = (hits / len(stems) for hits in count_correct(logits, targets))
    return len(stems), top1, top5


def main():
    # Its own options, not the shared settings: it reads the C++ app's result files, never a network or a recipe.
    parser = OneLineParser(prog=os.path.basename(sys.argv[0]), description=__doc__, allow_abbrev=False)
    parser.add_argument('--result_path', required=True, help="folder of <image stem>_0.bin logits (the app's "
                                                             "result_Files/)")
    parser.add_argument('--label_path', required=True, help='JSON {image stem: class index}')
    args = parser.parse_args()
    total, top1, top5 = accuracy(read_results(args.result_path), read_labels(args.label_path), args.label_path)
    print(f'Total data: {total}, top1 accuracy: {top1:.5f}, top5 accuracy: {top5:.5f}.')


if __name__ == '__main__':
    run_main(main)

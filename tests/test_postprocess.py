"""postprocess.py: top-1/top-5 of result files with known answers, and one-line errors for every mismatch."""
import json

import numpy as np
import pytest

from conftest import run_script

NUM_CLASSES = 7


def logits_ranking(order):
    """Logits whose classes rank in `order` (most probable first); classes not named rank last."""
    values = np.zeros(NUM_CLASSES, dtype=np.float32)
    for rank, label in enumerate(order):
        values[label] = 10.0 - rank
    return values


# image stem: (class ranking of its logits, true label)
KNOWN = {
    'top1_hit': ([3, 1, 2, 0, 4], 3),
    'second_place': ([1, 3, 2, 0, 4], 3),
    'fifth_place': ([0, 1, 2, 4, 6], 6),
    'sixth_place': ([0, 1, 2, 3, 4, 5], 5),
    'also_top1': ([6, 5, 4, 3, 2], 6),
}  # top-1: 2 of 5; top-5: 4 of 5


def write_results(folder, logits_by_stem):
    folder.mkdir(exist_ok=True)
    for stem, values in logits_by_stem.items():
        np.asarray(values, dtype=np.float32).tofile(folder / f'{stem}_0.bin')
    return folder


def write_labels(path, labels):
    path.write_text(json.dumps(labels), encoding='utf-8')
    return path


@pytest.fixture
def known_case(tmp_path):
    results = write_results(tmp_path / 'result_Files', {stem: logits_ranking(order)
                                                        for stem, (order, _) in KNOWN.items()})
    labels = write_labels(tmp_path / 'labels.json', {stem: label for stem, (_, label) in KNOWN.items()})
    return results, labels


def postprocess(results, labels):
    return run_script('postprocess.py', '--result_path', str(results), '--label_path', str(labels))


def test_accuracy_of_known_answers(known_case):
    result = postprocess(*known_case)
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'Total data: 5, top1 accuracy: 0.40000, top5 accuracy: 0.80000.\n'


def test_other_files_in_the_result_folder_are_ignored(known_case):
    results, labels = known_case
    (results / 'notes.txt').write_text('not a result')
    assert postprocess(results, labels).stdout.startswith('Total data: 5,')


def one_line_error(result):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_result_folder(tmp_path, known_case):
    line = one_line_error(postprocess(tmp_path / 'nowhere', known_case[1]))
    assert 'result folder' in line and 'does not exist' in line


def test_result_folder_without_results(tmp_path, known_case):
    (tmp_path / 'empty').mkdir()
    assert 'holds no *_0.bin files' in one_line_error(postprocess(tmp_path / 'empty', known_case[1]))


def test_result_file_of_another_size(known_case):
    results, labels = known_case
    np.zeros(NUM_CLASSES + 1, dtype=np.float32).tofile(results / 'second_place_0.bin')
    line = one_line_error(postprocess(results, labels))
    assert '1 result files' in line and f'{NUM_CLASSES} float32 logits' in line and 'second_place_0.bin' in line


def test_result_files_that_are_not_whole_floats(tmp_path, known_case):
    results = tmp_path / 'odd'
    results.mkdir()
    (results / 'a_0.bin').write_bytes(b'12345')
    assert 'not a whole number of float32 logits' in one_line_error(postprocess(results, known_case[1]))


def test_result_without_a_label(known_case):
    results, labels = known_case
    write_results(results, {'stranger': logits_ranking([0])})
    line = one_line_error(postprocess(results, labels))
    assert '1 result files have no label' in line and 'stranger_0.bin' in line


def test_label_without_a_result(known_case):
    results, labels = known_case
    (results / 'fifth_place_0.bin').unlink()
    line = one_line_error(postprocess(results, labels))
    assert '1 images of' in line and 'have no result file: fifth_place' in line


@pytest.mark.parametrize('bad_label, message', [
    (NUM_CLASSES, 'not classes of the 7-class model: top1_hit -> 7'),
    (-1, 'not class indices'),
    ('3', 'not class indices'),
])
def test_labels_that_are_not_classes_of_the_model(known_case, bad_label, message):
    results, labels = known_case
    content = json.loads(labels.read_text())
    content['top1_hit'] = bad_label
    write_labels(labels, content)
    assert message in one_line_error(postprocess(results, labels))


@pytest.mark.parametrize('content, message', [
    (None, 'does not exist'),
    ('{"a": 1', 'is not JSON'),
    ('[1, 2]', 'must be a non-empty JSON object'),
])
def test_unusable_label_files(tmp_path, known_case, content, message):
    path = tmp_path / 'labels_bad.json'
    if content is not None:
        path.write_text(content)
    assert message in one_line_error(postprocess(known_case[0], path))


def test_missing_arguments_fail_on_one_line():
    assert 'required: --result_path, --label_path' in one_line_error(run_script('postprocess.py'))

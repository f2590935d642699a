"""src/engine/metrics.py, the one ranking of classes: ties, NaN, k outside the classes, top-k counts; and postprocess.py
using it without MindSpore."""
import numpy as np
import pytest

from conftest import run_script
from src.engine.metrics import count_correct, top_k


def test_highest_scores_first():
    scores = np.array([[0.1, 0.7, 0.2, 0.5], [3.0, -1.0, 2.0, 0.0]], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [[1, 3, 2], [0, 2, 3]]
    assert top_k(scores[0], 2).tolist() == [1, 3]  # one row of scores


def test_ties_rank_by_class_index_on_any_number_of_classes():
    for classes in (10, 1000):  # numpy's default sort (not stable) orders these ties otherwise on this machine
        scores = np.zeros((1, classes), dtype=np.float32)
        scores[0, [classes - 1, 5, 7]] = 1.0
        assert top_k(scores, 5).tolist() == [[5, 7, classes - 1, 0, 1]]


def test_nan_ranks_below_every_number():
    scores = np.array([np.nan, -np.inf, 1.0, np.nan, 0.0], dtype=np.float32)
    assert top_k(scores, 5).tolist() == [2, 4, 1, 0, 3]


@pytest.mark.parametrize('k', [0, 4])
def test_k_must_be_between_one_and_the_number_of_classes(k):
    with pytest.raises(ValueError, match=f'top-{k} of 3 classes'):
        top_k(np.zeros((2, 3), dtype=np.float32), k)


def test_count_correct():
    logits = np.array([[9, 8, 7, 6, 5, 4, 3],    # label 0: first
                       [9, 8, 7, 6, 5, 4, 3],    # label 4: fifth
                       [9, 8, 7, 6, 5, 4, 3],    # label 5: sixth
                       [1, 1, 1, 1, 1, 1, 1]],   # label 1: second of a tie, after class 0
                      dtype=np.float32)
    assert count_correct(logits, np.array([0, 4, 5, 1])) == (1, 3)
    assert count_correct(logits, np.array([0, 4, 5, 1]), ks=(2, 6)) == (2, 4)


def test_top5_of_fewer_than_five_classes_is_top_of_all():
    logits = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]], dtype=np.float32)
    assert count_correct(logits, np.array([0, 1])) == (0, 2)


def test_no_rows_count_nothing():
    assert count_correct(np.zeros((0, 10), dtype=np.float32), np.zeros(0, dtype=np.int32)) == (0, 0)


def test_postprocess_ranks_without_mindspore():
    result = run_script('-c', 'import sys, postprocess; print("mindspore" in sys.modules)')
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'False\n'

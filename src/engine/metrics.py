"""Ranking classes by their scores and top-k accuracy, in numpy alone: eval.py, the training's validation,
postprocess.py (which runs without MindSpore) and the predictors all rank with `top_k`, so they agree on every
image, ties included."""
import numpy as np

TOP_K = (1, 5)


def top_k(scores, k):
    """The indices of the `k` highest scores of each row of `scores` (..., classes), highest first. Equal scores
    rank by class index, lowest first (a stable sort); NaN ranks below every number. `k` must be between 1 and
    the number of classes."""
    classes = scores.shape[-1]
    if not 1 <= k <= classes:
        raise ValueError(f'top-{k} of {classes} classes: k must be between 1 and {classes}')
    return np.argsort(-scores, axis=-1, kind='stable')[..., :k]


def count_correct(logits, labels, ks=TOP_K):
    """For each k of `ks`, how many rows of `logits` (N, classes) have their label among their top k classes;
    with fewer than k classes every class is among them (top-5 of a 3-class model is top-3)."""
    classes = logits.shape[1]
    ranked = top_k(logits, min(max(ks), classes))
    hits = ranked == np.asarray(labels)[:, None]
    return tuple(int(hits[:, :min(k, classes)].any(axis=1).sum()) for k in ks)

"""Balanced accuracy: the mean of per-class recalls, for unbalanced validation sets."""

from __future__ import annotations

import numpy as np
from fastai.metrics import AccumMetric


def balanced_accuracy(targets, predictions) -> float:
    """Mean recall over the classes present in ``targets``.

    Plain accuracy on an unbalanced set mostly measures the large classes: a model that
    never predicts a 12-image class loses little accuracy. Balanced accuracy weighs every
    class equally (scikit-learn's ``balanced_accuracy_score``, without its warning when a
    prediction names a class absent from ``targets``).

    Args:
        targets: True class indices (or labels).
        predictions: Predicted class indices (or labels), same length.

    Returns:
        A value in [0, 1]; NaN for empty input.

    Example:
        >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
        0.5
    """
    y, p = np.asarray(targets).ravel(), np.asarray(predictions).ravel()
    if y.size == 0:
        return float("nan")
    recalls = [float(np.mean(p[y == c] == c)) for c in np.unique(y)]
    return float(np.mean(recalls))


def balanced_accuracy_metric() -> AccumMetric:
    """fastai metric ``balanced_accuracy`` over a whole validation pass (argmax of logits)."""
    return AccumMetric(
        balanced_accuracy, dim_argmax=-1, to_np=True, invert_arg=True, name="balanced_accuracy"
    )

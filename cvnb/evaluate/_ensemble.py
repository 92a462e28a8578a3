"""``ensemble_predict``: several learners' softmax averaged, optionally with a flipped view."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._probs import class_probs, readable_rows, with_probs

__all__ = ["ensemble_predict"]


def ensemble_predict(
    learners_or_cv,
    items: pd.DataFrame | Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    tta: bool = False,
) -> pd.DataFrame:
    """Predict with several learners at once: the mean of their softmax probabilities.

    Each learner sees the images through its own deterministic validation pipeline, on its
    own device. With ``tta`` each learner's probabilities are first averaged over the image
    and its left-right mirror (flipped after preprocessing), so ``k`` learners make
    ``2k`` passes. An ensemble of the k fold models of :func:`cross_validate` (with
    ``ensemble=True``) is usually more accurate and better calibrated than one of them.

    Args:
        learners_or_cv: A :class:`CrossValidation` made with ``ensemble=True``, or a
            sequence of learners (one learner alone works too) with the same classes.
        items: A table with a ``path`` column (rows with an ``error`` are left out), a list
            of image paths, or one path.
        tta: Average in the horizontally flipped image (test-time augmentation).

    Returns:
        The table's rows (or ``path`` for a list) plus ``prediction``, ``prob``, ``probs``
        (the averaged probability vector, float32, in the learners' class order) and, where
        the rows have a ``label``, ``prob_true``, ``loss`` and ``correct``.
        ``attrs["classes"]`` holds the class order and ``attrs["n_models"]`` the count.

    Raises:
        ValueError: If there is no learner (e.g. a ``CrossValidation`` made without
            ``ensemble=True``) or the learners' classes differ.

    Example:
        >>> cv = cross_validate(table, k=5, ensemble=True)  # doctest: +SKIP
        >>> ensemble_predict(cv, table[table.split == "test"], tta=True)  # doctest: +SKIP
    """
    learners = _learners(learners_or_cv)
    classes = [str(c) for c in learners[0].dls.vocab]
    for learn in learners[1:]:
        other = [str(c) for c in learn.dls.vocab]
        if other != classes:
            raise ValueError(
                f"the learners' classes differ ({classes} against {other}); an ensemble "
                "needs models trained on the same classes"
            )
    if isinstance(items, pd.DataFrame):
        rows = readable_rows(items)
    else:
        paths = [items] if isinstance(items, str | os.PathLike) else list(items)
        rows = pd.DataFrame({"path": [str(p) for p in paths]})
    probs = np.mean([class_probs(learn, rows, tta=tta) for learn in learners], axis=0)
    probs = probs.astype(np.float32).reshape(len(rows), len(classes))
    out = with_probs(rows, probs, classes)
    out["probs"] = list(probs)
    out.attrs = {**rows.attrs, "classes": classes, "n_models": len(learners)}
    return out


def _learners(source) -> list:
    if hasattr(source, "learners") and hasattr(source, "oof"):  # a CrossValidation
        if not source.learners:
            raise ValueError(
                "this CrossValidation kept no learners; run cross_validate(..., ensemble=True)"
            )
        return list(source.learners)
    if hasattr(source, "dls") and hasattr(source, "model"):  # one Learner
        return [source]
    learners = list(source)
    if not learners:
        raise ValueError("ensemble_predict needs at least one learner")
    return learners

"""``cross_validate``: k stratified folds of the training rows, each on a fresh learner."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._probs import class_probs, readable_rows, with_probs

__all__ = ["CrossValidation", "cross_validate", "oof_label_scores"]

METRICS = ("accuracy", "balanced_accuracy")


@dataclass
class CrossValidation:
    """The result of :func:`cross_validate`.

    Attributes:
        folds: One row per fold: ``fold``, ``n_train``, ``n_held_out``, ``accuracy`` and
            ``balanced_accuracy`` on the held-out fold, ``seconds`` (training and
            prediction).
        oof: One row per training image (the table's columns, table order, fresh index)
            plus ``fold`` (the fold that held it out), ``prediction``, ``prob``,
            ``prob_true``, ``loss``, ``correct`` and ``probs`` (the probability vector, a
            float32 array in :attr:`classes` order), all from the model that never saw it.
        classes: Class names, the models' output order.
        k: Number of folds.
        seed: Seed of the fold split (and of each fold's learner and training).
        learners: The k trained learners with ``ensemble=True``, else None.
    """

    folds: pd.DataFrame
    oof: pd.DataFrame
    classes: list[str]
    k: int
    seed: int
    learners: list | None = None

    @property
    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation (ddof 1) over the folds, and as ``"0.712 ± 0.031"``."""
        stats = self.folds[list(METRICS)].agg(["mean", "std"]).T
        stats["text"] = [
            f"{m:.3f} ± {s:.3f}" for m, s in zip(stats["mean"], stats["std"], strict=True)
        ]
        stats.index.name = "metric"
        return stats

    @property
    def probs(self) -> np.ndarray:
        """Out-of-fold probabilities, ``(n_training_rows, len(classes))``, in :attr:`oof` order."""
        if self.oof.empty:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return np.stack(self.oof["probs"].to_list())

    def label_issues(self, method: str = "normalized") -> pd.DataFrame:
        """The training rows ranked by how likely their label is wrong, lowest score first.

        The out-of-fold probabilities are what the quality scan's label-issue ranking
        (``cvnb.quality``'s ``label_issue_scores``) computes from a linear probe on
        embeddings; here they come from fine-tuned networks. See :func:`oof_label_scores`.

        Args:
            method: ``"normalized"``, ``"self_confidence"`` or ``"margin"``.

        Returns:
            :attr:`oof` plus ``label_score`` (in [0, 1], lower = more suspect), sorted by it.
        """
        scores = oof_label_scores(self.probs, self.oof["label"], self.classes, method=method)
        out = self.oof.assign(label_score=scores)
        return out.sort_values("label_score", kind="stable")

    def __repr__(self) -> str:
        s = self.summary
        kept = f", {len(self.learners)} learners kept" if self.learners else ""
        return (
            f"CrossValidation: {self.k} folds over {len(self.oof)} training images{kept}\n"
            f"  accuracy {s.loc['accuracy', 'text']}, "
            f"balanced accuracy {s.loc['balanced_accuracy', 'text']} (mean ± std over folds)\n"
            f"  out-of-fold accuracy {self.oof['correct'].mean():.3f}"
        )

    def _repr_html_(self) -> str:
        folds = self.folds.to_html(index=False, float_format=lambda x: f"{x:.3f}")
        head = repr(self).splitlines()
        return (
            f"<div><b>{head[0]}</b><br>{head[1].strip()}<br>{head[2].strip()}"
            f"<details><summary>Per fold</summary>{folds}</details>"
            "<p>Also: <code>.oof</code> (out-of-fold predictions), "
            "<code>.label_issues()</code>, <code>ensemble_predict(cv, items)</code> "
            "with <code>ensemble=True</code>.</p></div>"
        )


def cross_validate(
    df: pd.DataFrame,
    k: int = 5,
    *,
    epochs: int = 5,
    seed: int = 0,
    ensemble: bool = False,
    progress: bool = True,
    learner_kwargs: dict | None = None,
    **fit_kwargs,
) -> CrossValidation:
    """Stratified k-fold cross-validation of cvnb's training recipe over the training rows.

    One split is one draw; k folds show how much the figures move. The readable rows with
    ``split == "train"`` are cut into ``k`` folds, stratified by label and seeded (the
    ``valid`` and ``test`` rows stay out, untouched). For each fold a fresh learner is built
    by :func:`cvnb.train.make_learner` on the other ``k - 1`` folds, with the held-out fold
    as its validation split, trained by :func:`cvnb.train.fit`, and the held-out fold is
    predicted through the deterministic validation pipeline. Every training image thus gets
    exactly one out-of-fold prediction, from a model that never saw it.

    The held-out fold is only measured, unless ``fit`` is told to pick on it
    (``early_stopping`` or ``save_best`` monitor the validation split): then that fold's
    figures flatter it a little.

    Args:
        df: The dataset table (``path``, ``label``, ``split``; rows with an ``error`` are
            left out).
        k: Number of folds, from 2 to the smallest class's number of training images.
        epochs: Passed to :func:`cvnb.train.fit`.
        seed: Seeds the folds, each fold's learner (``make_learner(seed=)``) and its
            training (``fit(seed=)``) unless ``learner_kwargs`` or ``fit_kwargs`` say
            otherwise.
        ensemble: Keep the k trained learners (:attr:`CrossValidation.learners`) for
            :func:`ensemble_predict`; otherwise each is dropped after its fold.
        progress: Show a progress bar over the folds (each fold trains quietly).
        learner_kwargs: Passed to :func:`cvnb.train.make_learner` (``arch``, ``img_size``,
            ``bs``, ``augment`` …).
        **fit_kwargs: Passed to :func:`cvnb.train.fit` (``lr``, ``schedule``,
            ``head_init`` …).

    Returns:
        A :class:`CrossValidation`: ``.folds``, ``.summary`` (mean ± std), ``.oof``.

    Raises:
        ValueError: If ``k`` is below 2 or above the smallest class's count of training
            images (the message gives the largest ``k`` allowed), or the table has no
            training rows.

    Example:
        >>> cv = cross_validate(table, k=5, epochs=3, learner_kwargs={"img_size": 64})  # doctest: +SKIP
        >>> cv.summary  # doctest: +SKIP
        >>> cv.label_issues().head(10)  # the training images most likely mislabelled  # doctest: +SKIP
    """
    from sklearn.model_selection import StratifiedKFold
    from tqdm.auto import tqdm

    from cvnb.train import fit, make_learner

    rows = _training_rows(df)
    labels = rows["label"].astype(str).to_numpy()
    _check_k(k, labels)
    learner_kwargs = {"seed": seed, **(learner_kwargs or {})}
    fit_kwargs = {"seed": seed, **fit_kwargs, "progress": False}
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    fold_of = np.full(len(rows), -1, dtype=int)
    probs = None
    records, learners = [], []
    for fold, (train_idx, held_idx) in enumerate(
        tqdm(
            splitter.split(np.zeros(len(rows)), labels), total=k, desc="folds", disable=not progress
        )
    ):
        start = time.perf_counter()
        table = rows.assign(split="train")
        table.loc[held_idx, "split"] = "valid"
        learn = make_learner(table, **learner_kwargs)
        fit(learn, epochs, **fit_kwargs)
        classes = [str(c) for c in learn.dls.vocab]
        fold_probs = class_probs(learn, rows.iloc[held_idx])
        if probs is None:
            probs = np.zeros((len(rows), len(classes)), dtype=np.float32)
        probs[held_idx] = fold_probs
        fold_of[held_idx] = fold
        y, p = labels[held_idx], np.asarray(classes)[fold_probs.argmax(axis=1)]
        records.append(
            {
                "fold": fold,
                "n_train": len(train_idx),
                "n_held_out": len(held_idx),
                "accuracy": float(np.mean(y == p)),
                "balanced_accuracy": float(np.mean([np.mean(p[y == c] == c) for c in set(y)])),
                "seconds": time.perf_counter() - start,
            }
        )
        if ensemble:
            learners.append(learn)
        del learn
    oof = with_probs(rows.assign(fold=fold_of), probs, classes)
    oof["probs"] = list(probs)
    return CrossValidation(
        folds=pd.DataFrame(records),
        oof=oof,
        classes=classes,
        k=k,
        seed=seed,
        learners=learners if ensemble else None,
    )


def oof_label_scores(
    probs: np.ndarray, labels, classes: list[str], *, method: str = "normalized"
) -> np.ndarray:
    """Label-issue scores from out-of-fold probabilities, as the quality scan scores them.

    The same three scores as ``cvnb.quality``'s ``label_issue_scores`` (there from a linear
    probe's out-of-fold probabilities): ``"self_confidence"`` is the probability of the
    given label; ``"normalized"`` divides it by the mean self-confidence of that label's
    class and clips to 1; ``"margin"`` is ``(p_given - max p_other + 1) / 2``.

    Args:
        probs: ``(n, len(classes))`` out-of-fold probabilities (e.g.
            :attr:`CrossValidation.probs`).
        labels: The ``n`` given labels; one that is not in ``classes`` scores 0.
        classes: Class names in the columns' order.
        method: One of ``"normalized"``, ``"self_confidence"``, ``"margin"``.

    Returns:
        float64 ``(n,)`` in [0, 1], lower = more likely mislabelled.
    """
    from cvnb.quality._semantic import label_scores_from_proba

    probs = np.asarray(probs, dtype=np.float64)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index.get(str(v), -1) for v in labels], dtype=int)
    known = y >= 0
    scores = np.zeros(len(y))
    scores[known] = label_scores_from_proba(probs[known], y[known], method)
    return scores


def _training_rows(df: pd.DataFrame) -> pd.DataFrame:
    missing = {"path", "label", "split"} - set(df.columns)
    if missing:
        raise ValueError(
            f"the table lacks column(s) {sorted(missing)}; build it with "
            "cvnb.data.load_images(folder_or_csv) (and cvnb.data.make_splits for a split)"
        )
    rows = readable_rows(df[df["split"] == "train"])
    if rows.empty:
        raise ValueError(
            "no readable rows with split == 'train' to cross-validate; assign splits with "
            "cvnb.data.make_splits(df)"
        )
    return rows.assign(label=rows["label"].astype(str))


def _check_k(k: int, labels: np.ndarray) -> None:
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    names, counts = np.unique(labels, return_counts=True)
    smallest = int(counts.min())
    if k > smallest:
        name = str(names[counts.argmin()])
        raise ValueError(
            f"k={k} is larger than the smallest class: {name!r} has {smallest} training "
            f"images, and every fold must hold each class; the largest k allowed is "
            f"{smallest}"
            + ("" if smallest >= 2 else " (at least 2: add images of that class or drop it)")
        )

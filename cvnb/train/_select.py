"""Held-back check of :func:`cvnb.train.fit`: keep the fine-tuned model only if it beats its probe."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from fastai.data.core import Datasets
from fastai.learner import Learner

from ._metrics import balanced_accuracy

#: Fewest training images for a held-back check; below it ``fit`` fine-tunes on everything.
MIN_HOLDOUT_TRAIN = 20
#: Most images held back. The check needs enough images to compare two models, not a fixed
#: share: on a large set a 20 % share only takes training images away (digits, 1,437 training
#: scans: 0.967 with 287 held back, 0.983 with 150; the probe there is 0.944).
MAX_HOLDOUT_IMAGES = 150


#: One-sided sign-test level at which fine-tuning counts as beating the probe on the
#: held-back images. Without it a handful of images decides: on flowers at 15 photos a class
#: (15 held back) fine-tuning "won" 10 to 9 and ended 0.68 on validation against the probe's
#: 0.77.
WIN_P_VALUE = 0.1


@dataclass
class HoldoutCheck:
    """Probe against fine-tuned model on training images held back from both.

    Attributes:
        n: Held-back images.
        probe_accuracy, probe_balanced_accuracy: The probe (fitted on the other training
            images) on them.
        fine_tuned_accuracy, fine_tuned_balanced_accuracy: The fine-tuned model (trained
            on the other training images) on them.
        fine_tuned_only: Held-back images the fine-tuned model gets right and the probe wrong.
        probe_only: Held-back images the probe gets right and the fine-tuned model wrong.
    """

    n: int
    probe_accuracy: float
    probe_balanced_accuracy: float
    fine_tuned_accuracy: float = float("nan")
    fine_tuned_balanced_accuracy: float = float("nan")
    fine_tuned_only: int = 0
    probe_only: int = 0

    @property
    def p_value(self) -> float:
        """One-sided exact sign test on the images the two models disagree on: the chance
        that fine-tuning wins at least this many of them if neither model were better."""
        k, m = self.fine_tuned_only, self.fine_tuned_only + self.probe_only
        if m == 0:
            return 1.0
        return sum(math.comb(m, i) for i in range(k, m + 1)) / 2**m

    @property
    def fine_tuning_wins(self) -> bool:
        """More held-back images right than the probe, by a margin chance rarely gives
        (:data:`WIN_P_VALUE`)."""
        return self.fine_tuned_only > self.probe_only and self.p_value <= WIN_P_VALUE

    def compare(self, truth: np.ndarray, probe: np.ndarray, fine_tuned: np.ndarray) -> None:
        """Record the fine-tuned model's figures and the disagreements, image by image."""
        self.fine_tuned_accuracy, self.fine_tuned_balanced_accuracy = scores(truth, fine_tuned)
        ft_right, probe_right = fine_tuned == truth, probe == truth
        self.fine_tuned_only = int((ft_right & ~probe_right).sum())
        self.probe_only = int((probe_right & ~ft_right).sum())

    def to_dict(self) -> dict:
        """Figures rounded for a report."""
        figures = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}
        return figures | {"p_value": round(self.p_value, 4)}


def holdout_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of training positions into ``(fit, held_back)``.

    Each class gives ``round(fraction * n)`` images to the held-back part, but always keeps at
    least two for fitting (a class of one or two images is never held back). On a large set
    the fraction shrinks so that at most about :data:`MAX_HOLDOUT_IMAGES` are held back.
    """
    fraction = min(fraction, MAX_HOLDOUT_IMAGES / max(len(labels), 1))
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for c in np.unique(labels):
        pos = rng.permutation(np.flatnonzero(labels == c))
        k = min(round(fraction * len(pos)), max(len(pos) - 2, 0))
        held.extend(pos[:k].tolist())
    held_arr = np.sort(np.asarray(held, dtype=int))
    fit_arr = np.setdiff1d(np.arange(len(labels)), held_arr)
    return fit_arr, held_arr


@contextmanager
def training_on(learn: Learner, positions: np.ndarray) -> Iterator[None]:
    """Train on the given positions of the training set only (same transforms and loader)."""
    dls = learn.dls
    full = dls.loaders[0]
    ds = full.dataset
    tls = [tl._new(tl.items.iloc[positions], split_idx=tl.split_idx) for tl in ds.tls]
    dls.loaders[0] = full.new(Datasets(tls=tls))
    try:
        yield
    finally:
        dls.loaders[0] = full


def scores(targets: np.ndarray, predictions: np.ndarray) -> tuple[float, float]:
    """``(accuracy, balanced accuracy)``."""
    if len(targets) == 0:
        return float("nan"), float("nan")
    return float(np.mean(targets == predictions)), balanced_accuracy(targets, predictions)

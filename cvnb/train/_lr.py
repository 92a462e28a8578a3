"""The learning-rate range test: fastai's ``lr_find``, all four suggestions, a noise check.

fastai's own ``LRFinder`` saves the learner to a temporary file before the test and loads it
back afterwards. Measured here (fastai 2.8.12) that brings back the weights, the BatchNorm
statistics, the ``requires_grad`` flags and the optimizer's per-parameter state, but not the
optimizer's hyper-parameters (every group's ``lr`` is left at ``learn.lr``), nor the recorder
(its curves are replaced by the test's), nor the model's train/eval mode, nor the random
number generators; it also creates ``learn.path/models``. :func:`find_lr` snapshots all of it
in memory and puts it back (:func:`preserved_learner`), so a range test leaves no trace.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING

import numpy as np
from fastai.callback.core import Callback

from ._lr_curve import LRFinderResult, NoiseRule, assess_lr_curve, check_recommend
from ._preserve import preserved_learner

if TYPE_CHECKING:
    from fastai.learner import Learner


class _RawLoss(Callback):
    """Records each training batch's unsmoothed loss (fastai's recorder keeps only the EMA)."""

    order = 0  # before Recorder (50) and LRFinder (60), so the last batch is kept too

    def before_fit(self) -> None:
        self.raw: list[float] = []

    def after_batch(self) -> None:
        if self.training:
            self.raw.append(float(self.learn.loss.detach()))


def find_lr(
    learn: Learner,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10,
    num_it: int = 100,
    stop_div: bool = True,
    recommend: str = "valley",
    rule: NoiseRule | None = None,
    seed: int = 0,
    progress: bool = True,
) -> LRFinderResult:
    """Run fastai's learning-rate range test and leave the learner exactly as it was.

    The rate grows exponentially from ``start_lr`` to ``end_lr`` over ``num_it`` training
    batches (``learn.lr_find``); fastai's four suggestion methods are applied to the
    recorded curve on fastai's window (here rather than inside ``lr_find``, so that a method
    that cannot run on a short curve — ``slide`` needs 16 points — gives NaN instead of an
    exception), and the curve is checked against ``rule`` (:class:`NoiseRule`).

    Afterwards the learner is restored: weights and BatchNorm statistics, ``requires_grad``
    flags (frozen groups stay frozen), gradients, the optimizer (the same object, its
    per-parameter state and its hyper-parameters, or None if there was none), the
    recorder's curves, train/eval modes, ``learn.model_dir`` and the random number
    generators (Python, NumPy, torch, the training loader's shuffle). Training after
    ``find_lr`` is the same as training without it. Nothing is written next to the data:
    fastai's temporary checkpoint goes to a temporary folder.

    Args:
        learn: A fastai ``Learner`` (e.g. from :func:`cvnb.train.make_learner`).
        start_lr: First learning rate.
        end_lr: Last learning rate.
        num_it: Number of batches (fastai runs at least 6).
        stop_div: Stop when the smoothed loss exceeds 4× its best (fastai's rule).
        recommend: Suggestion method for :attr:`LRFinderResult.recommended`.
        rule: When the curve counts as too noisy; :class:`NoiseRule` defaults when None.
        seed: Seeds the batches drawn and any augmentation: the same seed on the same
            learner gives the same curve.
        progress: Show fastai's progress bar.

    Returns:
        An :class:`LRFinderResult`; ``result.plot()`` draws it.

    Raises:
        ValueError: ``recommend`` is not a fastai suggestion method, or the rates are not
            positive and increasing.

    Example:
        >>> result = find_lr(learn)  # doctest: +SKIP
        >>> learn.fit_one_cycle(3, result.recommended)  # doctest: +SKIP
    """
    check_recommend(recommend)
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    raw = _RawLoss()
    with preserved_learner(learn, seed=seed), tempfile.TemporaryDirectory() as tmp:
        learn.model_dir = tmp  # absolute: fastai's checkpoint lands here, not in learn.path
        with learn.added_cbs([raw]):
            kwargs = {"start_lr": start_lr, "end_lr": end_lr, "num_it": num_it}
            kwargs.update(stop_div=stop_div, show_plot=False, suggest_funcs=None)
            if progress:
                learn.lr_find(**kwargs)
            else:
                with learn.no_bar():
                    learn.lr_find(**kwargs)
        lrs = np.asarray(learn.recorder.lrs, dtype=float)
        losses = np.asarray([float(x) for x in learn.recorder.losses], dtype=float)
    raw_losses = np.asarray(raw.raw[: len(lrs)], dtype=float) if len(raw.raw) >= len(lrs) else None
    return assess_lr_curve(
        lrs, losses, raw_losses=raw_losses, num_it=max(num_it, 6), recommend=recommend, rule=rule
    )

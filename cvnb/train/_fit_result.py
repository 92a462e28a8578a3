"""What :func:`cvnb.train.fit` did, and any learner's per-epoch table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from fastai.learner import Learner


@dataclass
class FitResult:
    """What :func:`fit` did.

    Attributes:
        history: One row per epoch of fine-tuning: ``epoch`` (from 0, across phases), ``phase``
            (``"frozen"``: head only; ``"all"``: every layer), ``train_loss``,
            ``valid_loss``, one column per metric (``accuracy``, ``balanced_accuracy``), ``lr`` (the head's
            rate in the epoch's last batch) and ``time_s``.
        monitor: The column that decides the best epoch.
        best_epoch: Epoch with the best ``monitor`` value.
        best_value: That value.
        wall_s: Seconds the whole call took (LR finder and probe included).
        lr: The head's peak learning rate (earlier groups get down to ``lr / lr_spread``).
        lr_source: Where ``lr`` came from: ``"given"`` (the ``lr`` argument),
            ``"PROBE_LR"`` (the default after a probe, :data:`PROBE_LR`) or
            ``"find_lr: <method>"`` (the LR finder's recommendation, e.g.
            ``"find_lr: valley"``).
        probe_accuracy: Validation accuracy of the linear probe (the head fitted on the
            frozen pretrained features of every training image; None without a probe).
        probe_balanced_accuracy: Its validation balanced accuracy.
        kept: Which model ``fit`` left in the learner: ``"fine-tuned"`` (the trained
            network) or ``"probe"`` (the pretrained backbone with the probe head, when
            fine-tuning did not clearly beat it on held-back training images).
        kept_reason: Why, in words, with the held-back figures.
        holdout: The held-back comparison (:class:`HoldoutCheck` as a dict: ``n``,
            ``probe_accuracy``, ``fine_tuned_accuracy``, their balanced accuracies, the
            disagreements ``fine_tuned_only`` / ``probe_only`` and the sign test's ``p_value``), or
            None when there was none (``holdout=0``, no probe, too few images).
        valid_accuracy: Validation accuracy of the model ``fit`` left in the learner.
        valid_balanced_accuracy: Its validation balanced accuracy (NaN when the learner has
            no ``balanced_accuracy`` metric and the fine-tuned model was kept).
        stopped_early: Whether early stopping ended training before ``epochs``.
        best_path: File holding the best weights (``save_best``), else None.
        events: Things callbacks did, in words (rate reductions, early stop, best saved).
    """

    history: pd.DataFrame
    monitor: str
    best_epoch: int
    best_value: float
    wall_s: float
    lr: float
    lr_source: str
    probe_accuracy: float | None = None
    probe_balanced_accuracy: float | None = None
    kept: str = "fine-tuned"
    kept_reason: str = ""
    holdout: dict | None = None
    valid_accuracy: float = float("nan")
    valid_balanced_accuracy: float = float("nan")
    stopped_early: bool = False
    best_path: Path | None = None
    events: list[str] = field(default_factory=list)

    def plot(self, ax=None):
        """Training and validation loss per epoch, the metrics on a second axis.

        The best epoch is marked; a dotted line shows where frozen epochs end.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        h = self.history
        ax.plot(h["epoch"], h["train_loss"], "o-", label="train loss")
        ax.plot(h["epoch"], h["valid_loss"], "o-", label="valid loss")
        ax.axvline(self.best_epoch, color="0.6", ls="--", lw=1, label=f"best ({self.monitor})")
        frozen = h[h["phase"] == "frozen"]
        if len(frozen) and len(frozen) < len(h):
            ax.axvline(frozen["epoch"].max() + 0.5, color="0.3", ls=":", lw=1, label="unfreeze")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        metrics = [c for c in h.columns if c not in _FIXED_COLUMNS]
        if metrics:
            right = ax.twinx()
            for i, name in enumerate(metrics):
                right.plot(h["epoch"], h[name], "s--", color=f"C{i + 2}", label=name)
            right.set_ylabel(", ".join(metrics))
            right.legend(loc="center right", fontsize=8)
        ax.legend(loc="upper right", fontsize=8)
        return ax


_FIXED_COLUMNS = ("epoch", "phase", "train_loss", "valid_loss", "lr", "time_s")


def history(learn: Learner) -> pd.DataFrame:
    """The learner's per-epoch table from its last ``fit`` call, as a DataFrame.

    fastai's recorder keeps the epoch table as bare lists (``learn.recorder.values``), one
    per epoch, in the order of ``learn.recorder.metric_names``; this names the columns.
    :func:`cvnb.train.fit` returns the table across all its phases in
    :attr:`FitResult.history` instead.

    Args:
        learn: A fastai ``Learner`` that has trained at least one epoch.

    Returns:
        One row per epoch: ``epoch`` (from 0), ``train_loss``, ``valid_loss``, one column
        per metric (e.g. ``accuracy``, ``balanced_accuracy``).

    Raises:
        ValueError: The learner has no recorded epoch yet.

    Example:
        >>> learn.fit_one_cycle(2, 1e-3)  # doctest: +SKIP
        >>> history(learn)[["epoch", "valid_loss", "accuracy"]]  # doctest: +SKIP
    """
    recorder = getattr(learn, "recorder", None)
    values = list(getattr(recorder, "values", []) or [])
    if not values:
        raise ValueError(
            "the learner has no recorded epoch yet: train it first (fit, fit_one_cycle)"
        )
    names = list(recorder.metric_names)
    inner = names[1:-1]  # without 'epoch' and 'time'
    rows = [dict(zip(inner, map(float, v), strict=False)) for v in values]
    table = pd.DataFrame(rows, columns=inner)
    table.insert(0, "epoch", range(len(values)))
    return table

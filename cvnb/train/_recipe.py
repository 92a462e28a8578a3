"""``fit``: cvnb's training recipe, with schedules and regularization as one-line options."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from fastai.callback.core import Callback
from fastai.callback.progress import ShowGraphCallback
from fastai.learner import Learner
from fastai.torch_core import set_seed

from ._callbacks import (
    History,
    KeepBatchNormStats,
    QuietPlateau,
    SaveBest,
    lower_is_better,
    tracker_callbacks,
)
from ._lr import find_lr
from ._probe import fit_probe_head

SCHEDULES = ("one_cycle", "flat_cos", "plateau")
HEAD_INITS = ("auto", "probe", "none")
BN_STATS = ("auto", "keep", "update")
#: The head's rate after a probe. The LR finder run after a probe recommends ~1e-5 (measured on
#: coco-crops and digits while choosing the recipe), too low to move the network at all.
PROBE_LR = 1e-3


@dataclass
class FitResult:
    """What :func:`fit` did.

    Attributes:
        history: One row per epoch: ``epoch`` (from 0, across phases), ``phase``
            (``"frozen"``: head only; ``"all"``: every layer), ``train_loss``,
            ``valid_loss``, one column per metric (e.g. ``accuracy``), ``lr`` (the head's
            rate in the epoch's last batch) and ``time_s``.
        monitor: The column that decides the best epoch.
        best_epoch: Epoch with the best ``monitor`` value.
        best_value: That value.
        wall_s: Seconds the whole call took (LR finder and probe included).
        lr: The head's peak learning rate (earlier groups get down to ``lr / lr_spread``).
        lr_source: ``"given"`` or how it was found (e.g. ``"find_lr: valley"``).
        probe_accuracy: Validation accuracy of the probe-fitted head before any epoch
            (None without a probe).
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


def fit(
    learn: Learner,
    epochs: int,
    lr: float | None = None,
    *,
    schedule: str = "one_cycle",
    head_init: str = "auto",
    bn_stats: str = "auto",
    freeze_epochs: int = 0,
    lr_spread: float = 100.0,
    wd: float | None = None,
    early_stopping: int | None = None,
    save_best: bool = False,
    monitor: str = "valid_loss",
    live_plot: bool = False,
    out: str | os.PathLike | None = None,
    schedule_kwargs: dict | None = None,
    cbs: list[Callback] | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> FitResult:
    """Train a learner with cvnb's recommended transfer-learning recipe, or a variant of it.

    The default recipe is for a pretrained learner: fit the classifier head as a logistic
    regression on the frozen backbone's features (a *linear probe*, seconds), then train
    every layer with one-cycle at discriminative rates (``lr`` = 1e-3 for the head down to
    ``lr / lr_spread`` for the stem), BatchNorm on its pretrained statistics. Fine-tuning
    then starts from a good head instead of tearing pretrained features down to fit a
    random one. A learner trained from scratch (``pretrained=False``) skips the probe.

    Chosen by measurement (``bench/finetune.py --seeds 0,1,2``, EfficientNet-Lite0, 5 epochs,
    one CPU thread; validation accuracy per seed). Real photos (coco-crops, 117 training
    images, 128 px): this recipe 0.71/0.71/0.67 in ~36 CPU-s; every layer at one rate (1e-3)
    0.49/0.56/0.36; LR finder + frozen epoch + discriminative unfreeze 0.49/0.53/0.44 in
    ~183 CPU-s. Digits, far from ImageNet (1,437 images, 48 px): 0.98/0.99/0.98; every
    layer at 5e-3 0.97/0.98/0.97; the classic recipe 0.99/0.95/0.95.

    Schedules (``schedule``): ``"one_cycle"`` (fastai ``fit_one_cycle``: warm-up then
    cosine annealing), ``"flat_cos"`` (``fit_flat_cos``: flat, then annealed) and
    ``"plateau"`` (``fit`` at a constant rate with ``ReduceLROnPlateau``, which divides the
    rate when ``monitor`` stops improving). Regularization: ``wd`` here; head dropout
    (``drop_rate``), label smoothing (``label_smoothing``) and augmentation are set when the
    learner is built (:func:`cvnb.train.make_learner`).

    Args:
        learn: A fastai ``Learner`` (from :func:`cvnb.train.make_learner`).
        epochs: Epochs in all, frozen ones included.
        lr: The head's peak learning rate. None: after a probe :data:`PROBE_LR` (1e-3;
            the LR finder's valley after a probe is ~1e-5, too low to move the network);
            without a probe the learning-rate finder (:func:`cvnb.train.find_lr`) runs on
            the learner as it will train (the head alone when frozen epochs come first)
            and its recommendation is used.
        schedule: One of :data:`SCHEDULES`.
        head_init: ``"probe"``: logistic-regression head on frozen features first;
            ``"none"``: keep the head as built; ``"auto"``: probe when the body is pretrained.
        bn_stats: ``"keep"``: BatchNorm layers normalize with their running (pretrained)
            statistics during training too, and do not update them; their scale and shift
            still train. ``"update"``: fastai's default, batch statistics in training and
            running statistics updated. ``"auto"``: keep after a probe, else update. After a
            probe, updating changes the very features the head was fitted on: on digits one
            epoch at learning rate 0 took the probe's 0.94 validation accuracy to 0.13.
        freeze_epochs: Epochs training only the head (and norms) first, fastai's
            ``fine_tune`` style; the rest train every layer.
        lr_spread: Earlier layer groups get geometrically smaller rates, down to
            ``lr / lr_spread`` for the stem (1 gives every group ``lr``).
        wd: Weight decay (None: the optimizer's default, 0.01 for fastai's Adam).
        early_stopping: Stop after this many epochs without improvement of ``monitor``.
        save_best: Keep the weights of the best epoch: saved under ``out`` while training and
            loaded at the end.
        monitor: ``"valid_loss"`` or a metric name (e.g. ``"accuracy"``) for the best epoch,
            early stopping and plateau detection.
        live_plot: Draw train/valid loss during training (fastai ``ShowGraphCallback``;
            needs ``progress=True``).
        out: Run folder for ``save_best`` (default: a new temporary folder). Never the data
            folder.
        schedule_kwargs: Extra arguments for the schedule: ``fit_one_cycle``/``fit_flat_cos``
            (e.g. ``pct_start``), or ``ReduceLROnPlateau`` (``patience``, ``factor``).
        cbs: Extra fastai callbacks for every phase (e.g. ``MixUp()``).
        seed: Seed for shuffling, dropout and augmentation (None: leave the RNGs alone).
        progress: fastai's progress bars and per-epoch table (off: silent).

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: Unknown ``schedule``/``head_init``/``monitor``, or ``freeze_epochs``
            out of range.

    Example:
        >>> learn = make_learner(load_images(folder), img_size=128)  # doctest: +SKIP
        >>> res = fit(learn, 5)  # doctest: +SKIP
        >>> res.history[["epoch", "valid_loss", "accuracy"]]  # doctest: +SKIP
    """
    start = time.perf_counter()
    _check(epochs, schedule, head_init, bn_stats, freeze_epochs, lr_spread, early_stopping)
    _check_monitor(learn, monitor, live_plot, progress)
    if seed is not None:
        set_seed(seed)
    pretrained = getattr(getattr(learn, "cvnb_config", None), "pretrained", True)
    probe_accuracy = None
    probe = head_init == "probe" or (head_init == "auto" and pretrained)
    if probe:
        probe_accuracy = fit_probe_head(learn, progress=progress).accuracy
    keep_bn = bn_stats == "keep" or (bn_stats == "auto" and probe)
    cbs = [*(cbs or []), *([KeepBatchNormStats()] if keep_bn else [])]
    phases = [("frozen", freeze_epochs), ("all", epochs - freeze_epochs)]
    phases = [(name, n) for name, n in phases if n > 0]
    _set_trainable(learn, phases[0][0])
    lr_source = "given"
    if lr is None and probe:
        lr, lr_source = PROBE_LR, "probe recipe default"
    elif lr is None:
        with learn.added_cbs(cbs):  # the range test trains as the epochs will
            lr, lr_source = _find_lr(learn, progress)
    events: list[str] = []
    history = History()
    tracker_cbs = tracker_callbacks(learn, early_stopping, save_best, monitor, out, events)
    cbs = [history, *tracker_cbs, *cbs, *([ShowGraphCallback()] if live_plot else [])]
    kwargs = dict(schedule_kwargs or {})
    stopped = False
    with _quiet(learn, progress):
        for name, n in phases:
            _set_trainable(learn, name)
            rate = slice(lr / lr_spread, lr) if name == "all" and lr_spread > 1 else lr
            history.phase = name
            _run_schedule(learn, schedule, n, rate, wd, cbs, kwargs, monitor, events)
            if any(getattr(cb, "stopped", False) for cb in tracker_cbs):
                stopped = True
                break
    table = history.table()
    best = table[monitor].idxmin() if lower_is_better(monitor) else table[monitor].idxmax()
    saver = next((cb for cb in tracker_cbs if isinstance(cb, SaveBest)), None)
    return FitResult(
        history=table,
        monitor=monitor,
        best_epoch=int(table.loc[best, "epoch"]),
        best_value=float(table.loc[best, monitor]),
        wall_s=time.perf_counter() - start,
        lr=float(lr),
        lr_source=lr_source,
        probe_accuracy=probe_accuracy,
        stopped_early=stopped,
        best_path=saver.path if saver else None,
        events=events,
    )


def _check(epochs, schedule, head_init, bn_stats, freeze_epochs, lr_spread, patience):
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if head_init not in HEAD_INITS:
        raise ValueError(f"head_init must be one of {HEAD_INITS}, got {head_init!r}")
    if bn_stats not in BN_STATS:
        raise ValueError(f"bn_stats must be one of {BN_STATS}, got {bn_stats!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if patience is not None and patience < 1:
        raise ValueError(f"early_stopping is a patience in epochs (>= 1), got {patience}")
    if lr_spread < 1:
        raise ValueError(f"lr_spread must be >= 1 (1: one rate for all groups), got {lr_spread}")
    if not 0 <= freeze_epochs <= epochs:
        raise ValueError(
            f"freeze_epochs must be between 0 and epochs={epochs}, got {freeze_epochs}"
        )


def _check_monitor(learn, monitor, live_plot, progress):
    names = ["train_loss", "valid_loss", *(m.name for m in learn.metrics)]
    if monitor not in names:
        raise ValueError(f"monitor must be one of {names}, got {monitor!r}")
    if live_plot and not progress:
        raise ValueError("live_plot draws into the progress bar: use it with progress=True")


def _set_trainable(learn: Learner, phase: str) -> None:
    if phase == "frozen":
        learn.freeze()
    else:
        learn.unfreeze()


def _find_lr(learn: Learner, progress: bool) -> tuple[float, str]:
    result = find_lr(learn, progress=progress)  # model and optimizer restored afterwards
    return float(result.recommended), "find_lr: recommended"


def _run_schedule(learn, schedule, n, rate, wd, cbs, kwargs, monitor, events) -> None:
    if schedule == "one_cycle":
        learn.fit_one_cycle(n, rate, wd=wd, cbs=cbs, **kwargs)
    elif schedule == "flat_cos":
        learn.fit_flat_cos(n, rate, wd=wd, cbs=cbs, **kwargs)
    else:
        plateau = QuietPlateau(monitor=monitor, events=events, **kwargs)
        learn.fit(n, rate, wd=wd, cbs=[*cbs, plateau])


@contextmanager
def _quiet(learn: Learner, progress: bool):
    """No progress bar and no printed epoch table when ``progress`` is off."""
    with ExitStack() as stack:
        if not progress:
            stack.enter_context(learn.no_bar())
            stack.enter_context(learn.no_logging())
        yield

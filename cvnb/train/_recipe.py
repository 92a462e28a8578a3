"""``fit``: cvnb's training recipe, with schedules and regularization as one-line options."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack, contextmanager, nullcontext

import numpy as np
import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ShowGraphCallback
from fastai.learner import Learner
from fastai.torch_core import set_seed

from cvnb.device import pick_device

from ._callbacks import (
    History,
    KeepBatchNormStats,
    QuietPlateau,
    SaveBest,
    lower_is_better,
    tracker_callbacks,
)
from ._fit_result import FitResult
from ._lr import find_lr
from ._probe import ProbeHead, fit_probe, probe_features
from ._select import (
    MIN_HOLDOUT_TRAIN,
    WIN_P_VALUE,
    HoldoutCheck,
    holdout_split,
    scores,
    training_on,
)

SCHEDULES = ("one_cycle", "flat_cos", "plateau")
HEAD_INITS = ("auto", "probe", "none")
BN_STATS = ("auto", "keep", "update")
#: The head's rate after a probe. The LR finder run after a probe recommends ~1e-5 (measured on
#: coco-crops and digits while choosing the recipe), too low to move the network at all.
PROBE_LR = 1e-3


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
    holdout: float = 0.2,
    balance: bool = False,
) -> FitResult:
    """Train a learner with cvnb's recommended transfer-learning recipe, or a variant of it.

    The default recipe is for a pretrained learner: fit the classifier head as a logistic
    regression on the frozen backbone's features (a *linear probe*, seconds), then train
    every layer with one-cycle at discriminative rates (``lr`` = 1e-3 for the head down to
    ``lr / lr_spread`` for the stem), BatchNorm on its pretrained statistics. Fine-tuning
    then starts from a good head instead of tearing pretrained features down to fit a
    random one. A learner trained from scratch (``pretrained=False``) skips the probe.

    It never ends below its own linear probe: with ``holdout`` (20 % by default, at most about
    150 images) a stratified part of the training images is held back from both the probe and
    the fine-tuning; unless the fine-tuned network clearly beats the probe on it (more images
    right, and a one-sided sign test on the images they disagree on at p ≤ 0.1), ``fit`` puts the
    pretrained backbone back with the probe head (refitted on every training image) and
    says so in :attr:`FitResult.kept` / :attr:`FitResult.kept_reason`. The validation split
    is never used to choose.

    Measured with ``bench/finetune.py --threads 2`` (EfficientNet-Lite0, 5 epochs, seed 0,
    validation accuracy / balanced accuracy, at the default size). coco-crops (224 px, 117
    training crops, unbalanced): probe 0.733 / 0.750; fine-tuning every training image
    unchecked (``holdout=0``) ends at 0.644 / 0.723, below its probe; the default's
    fine-tuned candidate fell the same way (0.733 after the probe, 0.644 after 5 epochs), tied
    the probe on the 23 held-back crops, and ``fit`` kept the probe: 0.733 / 0.750. The
    per-epoch figures show the head rate :data:`PROBE_LR` (1e-3) is too high for small photo
    sets at 224 px; see the bench's JSON for the other sets. flowers (224 px, 350 photos):
    probe 0.880, fine-tuned 0.829 against the probe's 0.871 on 70 held-back photos, kept the
    probe. digits (48 px, 1,437 scans): fine-tuned 0.953 against the probe's 0.907 on 150
    held-back scans, kept: 0.983 / 0.983 (probe 0.944). Earlier, at 128 px and one
    thread (``--seeds 0,1,2``): this recipe 0.71/0.71/0.67 on coco-crops; every layer at one
    rate (1e-3) 0.49/0.56/0.36; LR finder + frozen epoch + discriminative unfreeze
    0.49/0.53/0.44; digits (48 px) 0.98/0.99/0.98.

    Schedules (``schedule``): ``"one_cycle"`` (fastai ``fit_one_cycle``: warm-up then
    cosine annealing), ``"flat_cos"`` (``fit_flat_cos``: flat, then annealed) and
    ``"plateau"`` (``fit`` at a constant rate with ``ReduceLROnPlateau``, which divides the
    rate when ``monitor`` stops improving). Regularization: ``wd`` here; head dropout
    (``drop_rate``), label smoothing (``label_smoothing``) and augmentation are set when the
    learner is built (:func:`cvnb.train.make_learner`). A softmax temperature stored by
    :func:`cvnb.evaluate.fit_temperature` is reset to 1: it was fitted to the old weights.

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
        holdout: Fraction of the training images (per class; a class keeps at least two
            for training) held back to choose between the fine-tuned network and the probe.
            0: fine-tune on every training image and keep the result unchecked. Used only
            after a probe and with at least 20 training images.
        balance: Weigh classes inversely to their frequency, in the probe's logistic
            regression (``class_weight="balanced"``) and in the fine-tuning loss. Off by
            default (see the module's measured figures; it did not help on the unbalanced
            sets measured).

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: Unknown ``schedule``/``head_init``/``monitor``, ``freeze_epochs`` or
            ``holdout`` out of range, or ``balance`` with a loss it cannot weigh.

    Example:
        >>> learn = make_learner(load_images(folder))  # size from the backbone  # doctest: +SKIP
        >>> res = fit(learn, 5)  # doctest: +SKIP
        >>> res.kept, res.valid_accuracy, res.kept_reason  # doctest: +SKIP
        >>> res.history[["epoch", "valid_loss", "accuracy", "balanced_accuracy"]]  # doctest: +SKIP
    """
    start = time.perf_counter()
    _check(epochs, schedule, head_init, bn_stats, freeze_epochs, lr_spread, early_stopping)
    _check_monitor(learn, monitor, live_plot, progress)
    if not 0 <= holdout < 1:
        raise ValueError(f"holdout is a fraction of the training images in [0, 1), got {holdout}")
    if seed is not None:
        set_seed(seed)
    config = getattr(learn, "cvnb_config", None)
    if getattr(config, "temperature", 1.0) != 1.0:
        # A temperature was fitted to the old weights; refit it after training
        # (cvnb.evaluate.fit_temperature).
        config.temperature = 1.0
    pretrained = getattr(config, "pretrained", True)
    probe = head_init == "probe" or (head_init == "auto" and pretrained)
    plan = _probe_plan(learn, holdout, balance, seed, progress) if probe else None
    keep_bn = bn_stats == "keep" or (bn_stats == "auto" and probe)
    cbs = [*(cbs or []), *([KeepBatchNormStats()] if keep_bn else [])]
    phases = [("frozen", freeze_epochs), ("all", epochs - freeze_epochs)]
    phases = [(name, n) for name, n in phases if n > 0]
    _set_trainable(learn, phases[0][0])
    lr_source = "given"
    if lr is None and probe:
        lr, lr_source = PROBE_LR, "PROBE_LR"
    elif lr is None:
        with learn.added_cbs(cbs):  # the range test trains as the epochs will
            lr, lr_source = _find_lr(learn, progress)
    events: list[str] = []
    history = History()
    tracker_cbs = tracker_callbacks(learn, early_stopping, save_best, monitor, out, events)
    cbs = [history, *tracker_cbs, *cbs, *([ShowGraphCallback()] if live_plot else [])]
    kwargs = dict(schedule_kwargs or {})
    stopped = False
    subset = training_on(learn, plan.fit_pos) if plan and plan.check else nullcontext()
    with _quiet(learn, progress), subset, _balanced_loss(learn, balance):
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
    final = table.loc[best] if saver else table.iloc[-1]
    result = FitResult(
        history=table,
        monitor=monitor,
        best_epoch=int(table.loc[best, "epoch"]),
        best_value=float(table.loc[best, monitor]),
        wall_s=0.0,
        lr=float(lr),
        lr_source=lr_source,
        stopped_early=stopped,
        best_path=saver.path if saver else None,
        events=events,
        valid_accuracy=float(final.get("accuracy", float("nan"))),
        valid_balanced_accuracy=float(final.get("balanced_accuracy", float("nan"))),
        kept_reason="no probe (head_init='none' or a learner trained from scratch)",
    )
    if plan is not None:
        _keep_better(learn, plan, result)
    result.wall_s = time.perf_counter() - start
    return result


class _ProbePlan:
    """The probe's features and heads, and the held-back split, for one ``fit`` call."""

    def __init__(self, learn, holdout, balance, seed, progress):
        items = learn.dls.train.items
        self.x, self.y = probe_features(learn, items, progress=progress)
        self.x_valid, self.y_valid = probe_features(learn, learn.dls.valid.items, progress=progress)
        self.full: ProbeHead = fit_probe(learn, self.x, self.y, balance=balance)
        self.valid_scores = scores(self.y_valid, self.full.predict(self.x_valid))
        self.items, self.check = items, None
        self.fit_pos = np.arange(len(self.y))
        start = self.full
        if holdout > 0 and len(self.y) >= MIN_HOLDOUT_TRAIN:
            self.fit_pos, self.held_pos = holdout_split(self.y, holdout, seed or 0)
            start = fit_probe(learn, self.x[self.fit_pos], self.y[self.fit_pos], balance=balance)
            self.held_probe = start.predict(self.x[self.held_pos])
            held_scores = scores(self.y[self.held_pos], self.held_probe)
            self.check = HoldoutCheck(len(self.held_pos), *held_scores)
        start.set_on(learn)
        self.backbone = {k: v.detach().clone() for k, v in learn.model.state_dict().items()}


def _probe_plan(learn, holdout, balance, seed, progress) -> _ProbePlan:
    return _ProbePlan(learn, holdout, balance, seed, progress)


def _keep_better(learn: Learner, plan: _ProbePlan, result: FitResult) -> None:
    """Compare on the held-back images; put the probe back when fine-tuning did not beat it."""
    result.probe_accuracy, result.probe_balanced_accuracy = plan.valid_scores
    check = plan.check
    if check is None:
        result.kept_reason = (
            "fine-tuned without a held-back check (holdout=0, or fewer than "
            f"{MIN_HOLDOUT_TRAIN} training images)"
        )
        return
    logits, _ = probe_features(learn, plan.items.iloc[plan.held_pos], logits=True)
    check.compare(plan.y[plan.held_pos], plan.held_probe, np.asarray(logits.argmax(1)))
    acc, bacc = check.fine_tuned_accuracy, check.fine_tuned_balanced_accuracy
    result.holdout = check.to_dict()
    figures = (
        f"on {check.n} held-back training images: fine-tuned {acc:.3f} accuracy "
        f"({bacc:.3f} balanced), probe {check.probe_accuracy:.3f} "
        f"({check.probe_balanced_accuracy:.3f}); {check.fine_tuned_only} images only "
        f"fine-tuning got right, {check.probe_only} only the probe (sign test "
        f"p = {check.p_value:.2f}, needs ≤ {WIN_P_VALUE})"
    )
    if check.fine_tuning_wins:
        result.kept, result.kept_reason = "fine-tuned", f"fine-tuning beat the probe {figures}"
        return
    with torch.no_grad():
        learn.model.load_state_dict(plan.backbone)
    plan.full.set_on(learn)
    learn.opt = None  # its moments belong to the discarded weights; fastai makes a new one
    result.kept = "probe"
    result.kept_reason = (
        f"fine-tuning did not clearly beat the linear probe {figures}: kept the pretrained backbone "
        "with the probe head (fitted on all training images)"
    )
    result.valid_accuracy, result.valid_balanced_accuracy = plan.valid_scores


@contextmanager
def _balanced_loss(learn: Learner, balance: bool):
    """Weigh each class's loss inversely to its share of the training images."""
    if not balance:
        yield
        return
    loss = learn.loss_func
    inner = getattr(loss, "func", None)
    if inner is None or not hasattr(inner, "weight"):
        raise ValueError(
            "balance=True weighs the learner's loss per class, which needs cvnb's loss "
            "(cross-entropy or label smoothing from make_learner); weigh a custom loss yourself"
        )
    labels = learn.dls.train.items["label"].map({c: i for i, c in enumerate(learn.dls.vocab)})
    counts = np.bincount(labels.to_numpy(dtype=int), minlength=len(learn.dls.vocab))
    weight = len(labels) / (len(counts) * np.maximum(counts, 1))
    saved = inner.weight
    device = pick_device(learn=learn)
    inner.weight = torch.as_tensor(weight, dtype=torch.float32, device=device)
    try:
        yield
    finally:
        inner.weight = saved


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
    return float(result.recommended), f"find_lr: {result.recommended_by}"


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

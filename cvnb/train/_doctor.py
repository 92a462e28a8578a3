"""The training doctor: read the recorded curves, name what went wrong, say what to do.

Each rule measures something on the curves and compares it with a threshold of
:class:`DoctorThresholds` (which documents the rules and their defaults); a finding carries
the numbers, an action and a plot of the evidence. Findings are listed most urgent first:
diverged, oscillating, overfitting, lr_too_low, underfitting, plateau. Divergence makes the
other rules meaningless, so it is reported alone; oscillation rules out ``lr_too_low`` and
``plateau``; a too-low rate rules out under-fitting, and under-fitting a plateau.
"""

from __future__ import annotations

import html
import math
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from . import _doctor_rules as rules

if TYPE_CHECKING:
    from fastai.learner import Learner, Recorder
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FINDING_KINDS = ("diverged", "oscillating", "overfitting", "lr_too_low", "underfitting", "plateau")
# kind: (severity, action)
_ADVICE = {
    "diverged": ("critical", "Lower the learning rate 10-100× (run find_lr and take its "
                 "valley), then check the data for broken images, wrong labels or "
                 "un-normalized inputs; gradient clipping helps."),
    "oscillating": ("warning", "Lower the learning rate (3-10×) or use a schedule that "
                    "anneals it (fit_one_cycle, fit_flat_cos); a larger batch also steadies "
                    "the loss."),
    "overfitting": ("warning", "Regularize: stronger augmentation, more weight decay "
                    "(wd=0.1), head dropout (drop_rate), fewer epochs or early stopping with "
                    "save-best, or more data."),
    "lr_too_low": ("warning", "Raise the learning rate (about 10×; find_lr's valley is a "
                   "good start)."),
    "underfitting": ("warning", "Give the model more capacity to fit: unfreeze more layer "
                     "groups, raise the learning rate, train longer, or use a larger "
                     "backbone."),
    "plateau": ("info", "Reduce the rate when the loss stalls (ReduceLROnPlateau, or "
                "fit_one_cycle / fit_flat_cos which anneal it)."),
}  # fmt: skip


@dataclass(frozen=True)
class DoctorThresholds:
    """The doctor's rules and their thresholds (defaults in brackets).

    The starting loss is the first batch's (smoothed losses start at the raw value), or the
    first epoch's mean when no per-batch curve is given.

    - ``diverged``: a loss is NaN or infinite; or the training loss peaks above
      ``explode_factor`` × its start [4, where fastai's LR finder stops]; or ends above
      ``diverge_factor`` × its start [1.5].
    - ``oscillating``: at least ``min_swings`` [2] climbs, each larger than ``swing`` [0.1]
      × the starting loss (a climb ends when the curve falls back by as much), in the
      per-batch training loss or the per-epoch validation loss (4 epochs or more).
    - ``overfitting``: the validation loss ends more than ``overfit_rise`` [0.1] above its
      best epoch (not the last) while the training loss kept falling.
    - ``lr_too_low``: the training loss fell by less than ``low_lr_drop`` [0.5] of its
      start (and more than 2%), steadily: its second half fell at least
      ``low_lr_linearity`` [0.5] × as much as its first.
    - ``underfitting``: the final training (and validation) loss is still at least
      ``underfit_loss`` [0.6] × the starting loss, or the final metric (higher is better)
      is below ``underfit_metric`` [None: what is "low" depends on the task].
    - ``plateau``: the monitored loss (validation, else training) improved by less than
      ``plateau_tol`` [0.01, relative] over the last ``plateau_epochs`` [3] epochs, and the
      rate was not annealed: it did not end below ``annealed`` [0.5] × its maximum (a
      one-cycle run ends flat by design).
    """

    diverge_factor: float = 1.5
    explode_factor: float = 4.0
    swing: float = 0.1
    min_swings: int = 2
    overfit_rise: float = 0.1
    low_lr_drop: float = 0.5
    low_lr_linearity: float = 0.5
    underfit_loss: float = 0.6
    underfit_metric: float | None = None
    plateau_epochs: int = 3
    plateau_tol: float = 0.01
    annealed: float = 0.5


@dataclass
class Curves:
    """The recorded training curves a diagnosis reads (all NumPy float arrays).

    Attributes:
        train_loss, valid_loss: Per epoch (``valid_loss`` all-NaN when not validated).
        metric: Per epoch, or None; ``metric_name`` names it.
        batch_loss: Smoothed training loss per batch, or None.
        lrs: Learning rate per batch, or None.
        iters: Batches done at the end of each epoch (for the batch axis), or None.
    """

    train_loss: np.ndarray
    valid_loss: np.ndarray
    metric: np.ndarray | None = None
    metric_name: str = "metric"
    batch_loss: np.ndarray | None = None
    lrs: np.ndarray | None = None
    iters: np.ndarray | None = None


@dataclass(eq=False)
class Finding:
    """One problem the doctor found.

    Attributes:
        kind: One of ``diverged``, ``oscillating``, ``overfitting``, ``lr_too_low``,
            ``underfitting``, ``plateau``.
        severity: ``critical``, ``warning`` or ``info``.
        evidence: What was measured, with the numbers.
        action: What to do about it.
        values: The measured numbers by name.
        curves: The curves it was found in.
        mark: What :meth:`plot` highlights (``axis``, ``span``, ``points``, ``hline``…).
    """

    kind: str
    severity: str
    evidence: str
    action: str
    values: dict[str, float] = field(default_factory=dict)
    curves: Curves | None = field(default=None, repr=False)
    mark: dict = field(default_factory=dict, repr=False)

    def plot(self, ax: Axes | None = None) -> Figure:
        """Draw the curve this finding is about, with its evidence highlighted."""
        ax = _axes(ax)
        c = self.curves
        on_batches = self.mark.get("axis") == "batch"
        if on_batches:
            x = np.arange(len(c.batch_loss))
            ax.plot(x, c.batch_loss, color="C0", label="train loss (per batch, smoothed)")
            for end in c.iters if c.iters is not None else []:
                ax.axvline(end, color="0.85", lw=0.8)  # epoch boundaries
            ax.set_xlabel("batch")
        else:
            x = np.arange(1, len(c.train_loss) + 1)
            ax.plot(x, c.train_loss, "o-", color="C0", label="train loss")
            if np.isfinite(c.valid_loss).any():
                ax.plot(x, c.valid_loss, "o-", color="C1", label="valid loss")
            ax.set_xlabel("epoch")
        if "span" in self.mark:
            lo, hi = self.mark["span"]
            ax.axvspan(lo, hi, color="firebrick", alpha=0.12, label="evidence")
        if "hline" in self.mark:
            ax.axhline(self.mark["hline"], color="firebrick", ls="--", lw=1, label="threshold")
        for px, py in self.mark.get("points", []):
            ax.plot([px], [py], "v", color="firebrick", ms=8)
        if "fit" in self.mark:
            (x0, y0), (x1, y1) = self.mark["fit"]
            ax.plot([x0, x1], [y0, y1], ":", color="firebrick", lw=2, label="steady trend")
        if self.mark.get("logy"):
            ax.set_yscale("log")
        ax.set_ylabel("loss")
        ax.set_title(textwrap.fill(f"{self.kind}: {self.evidence}", 100), fontsize=8)
        ax.legend(fontsize=7)
        return ax.figure


@dataclass(eq=False)
class Diagnosis:
    """What the doctor found in a run; made by :func:`diagnose` or :func:`diagnose_curves`.

    Attributes:
        findings: Most urgent first; empty when the run looks healthy.
        curves: The curves that were read.
        thresholds: The thresholds used.
    """

    findings: list[Finding]
    curves: Curves
    thresholds: DoctorThresholds

    @property
    def kinds(self) -> list[str]:
        """The finding kinds, most urgent first; ``["healthy"]`` when there are none."""
        return [f.kind for f in self.findings] or ["healthy"]

    @property
    def healthy(self) -> bool:
        """No findings."""
        return not self.findings

    def to_frame(self) -> pd.DataFrame:
        """The findings as a table: kind, severity, evidence, action."""
        cols = ["kind", "severity", "evidence", "action"]
        return pd.DataFrame([[getattr(f, c) for c in cols] for f in self.findings], columns=cols)

    def plot(self) -> Figure:
        """One panel per finding with its evidence (the curves alone when healthy)."""
        from matplotlib.figure import Figure

        n = max(len(self.findings), 1)
        fig = Figure(figsize=(7.0, 3.2 * n), layout="constrained")
        axes = np.atleast_1d(fig.subplots(n, 1))
        if not self.findings:
            Finding("healthy", "info", "no problem found", "", curves=self.curves).plot(axes[0])
        for f, ax in zip(self.findings, axes, strict=False):
            f.plot(ax)
        return fig

    def _repr_html_(self) -> str:
        if not self.findings:
            return '<div class="cvnb-diagnosis"><p><b>Training doctor:</b> healthy</p></div>'
        body = self.to_frame().to_html(index=False, escape=True)
        head = html.escape(", ".join(self.kinds))
        return f'<div class="cvnb-diagnosis"><p><b>Training doctor:</b> {head}</p>{body}</div>'

    def __repr__(self) -> str:
        lines = [f"Diagnosis: {', '.join(self.kinds)}"]
        lines += [f"- {f.kind} ({f.severity}): {f.evidence} → {f.action}" for f in self.findings]
        return "\n".join(lines)


def smooth_losses(raw: ArrayLike, beta: float = 0.98) -> np.ndarray:
    """fastai's smoothed loss: a debiased exponential moving average (``AvgSmoothLoss``)."""
    out, avg = [], 0.0
    for i, v in enumerate(np.asarray(raw, dtype=float), start=1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**i))
    return np.asarray(out)


def diagnose(
    learn_or_recorder: Learner | Recorder,
    *,
    metric: str | None = None,
    thresholds: DoctorThresholds | None = None,
) -> Diagnosis:
    """Diagnose the last fit recorded by a fastai ``Learner`` (or its ``Recorder``).

    Reads ``recorder.values`` (train loss, valid loss and metrics per epoch),
    ``recorder.losses`` (smoothed loss per batch), ``recorder.lrs`` and ``recorder.iters``.
    The recorder keeps only the last ``fit`` call (``fine_tune`` makes two).

    Args:
        learn_or_recorder: A ``Learner`` after fitting, or its ``recorder``.
        metric: Name of the metric to report (default: the first validation metric, e.g.
            ``accuracy``). The doctor reads a higher-is-better metric: one named like an
            error or a loss (``error_rate``) is left out.
        thresholds: Rule thresholds (:class:`DoctorThresholds` defaults when None).

    Returns:
        A :class:`Diagnosis`.
    """
    rec = getattr(learn_or_recorder, "recorder", learn_or_recorder)
    if not getattr(rec, "values", None):
        raise ValueError("nothing recorded yet: diagnose a learner after learn.fit(...)")
    names = [n for n in rec.metric_names[1:] if n != "time"]
    width = len(names)
    values = np.array([list(map(float, v)) + [math.nan] * (width - len(v)) for v in rec.values])
    col = {n: values[:, i] for i, n in enumerate(names)}
    others = [n for n in names if n not in ("train_loss", "valid_loss")]
    if metric is not None and metric not in others:
        raise ValueError(f"metric {metric!r} was not recorded; recorded: {others}")
    valid_first = [n for n in others if not n.startswith("train_")] + others
    name = metric or (valid_first[0] if valid_first else None)
    higher = name is not None and not any(s in name for s in ("error", "loss", "mse", "mae"))
    return diagnose_curves(
        col["train_loss"],
        col.get("valid_loss", np.full(len(values), math.nan)),
        metric=col[name] if name and higher else None,
        metric_name=name or "metric",
        batch_loss=[float(x) for x in rec.losses],
        lrs=[float(x) for x in rec.lrs],
        iters=list(rec.iters),
        thresholds=thresholds,
    )


def diagnose_curves(
    train_loss: ArrayLike,
    valid_loss: ArrayLike | None = None,
    *,
    metric: ArrayLike | None = None,
    metric_name: str = "metric",
    batch_loss: ArrayLike | None = None,
    batch_smoothed: bool = True,
    lrs: ArrayLike | None = None,
    iters: ArrayLike | None = None,
    thresholds: DoctorThresholds | None = None,
) -> Diagnosis:
    """Diagnose training curves given as plain arrays.

    Args:
        train_loss: Training loss per epoch.
        valid_loss: Validation loss per epoch (None when not validated).
        metric: A higher-is-better metric per epoch (accuracy …), or None.
        metric_name: Its name, for the evidence text.
        batch_loss: Training loss per batch, or None. Thresholds are calibrated for the
            smoothed loss fastai records; give raw losses with ``batch_smoothed=False``
            and they are smoothed the same way (:func:`smooth_losses`).
        batch_smoothed: Whether ``batch_loss`` is already smoothed.
        lrs: Learning rate per batch (tells an annealed schedule from a plateau).
        iters: Batches done at the end of each epoch.
        thresholds: Rule thresholds (:class:`DoctorThresholds` defaults when None).

    Returns:
        A :class:`Diagnosis`; ``.kinds`` is ``["healthy"]`` when no rule fired.
    """
    t = thresholds or DoctorThresholds()
    tr = np.asarray(train_loss, dtype=float).ravel()
    va = np.full(len(tr), math.nan) if valid_loss is None else np.asarray(valid_loss, float)
    if len(tr) == 0 or va.shape != tr.shape:
        raise ValueError(f"need equally long per-epoch curves; got {len(tr)} and {va.shape}")
    b = None if batch_loss is None else np.asarray(batch_loss, float)
    b = None if b is None or b.size == 0 else b
    if b is not None and not batch_smoothed:
        b = smooth_losses(b)
    c = Curves(
        tr,
        va,
        None if metric is None else np.asarray(metric, float),
        metric_name,
        b,
        None if lrs is None or np.size(lrs) == 0 else np.asarray(lrs, float),
        None if iters is None else np.asarray(iters, float),
    )
    found = _run("diverged", c, t)
    if not found:
        found = _run("oscillating", c, t) + _run("overfitting", c, t)
        low = [] if found and found[0].kind == "oscillating" else _run("lr_too_low", c, t)
        under = [] if low else _run("underfitting", c, t)
        found += low + under + ([] if found or low or under else _run("plateau", c, t))
    found.sort(key=lambda f: FINDING_KINDS.index(f.kind))
    return Diagnosis(found, c, t)


def _run(kind: str, c: Curves, t: DoctorThresholds) -> list[Finding]:
    out = getattr(rules, kind)(c, t)
    if out is None:
        return []
    evidence, values, mark = out
    severity, action = _ADVICE[kind]
    return [Finding(kind, severity, evidence, action, values, c, mark)]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    return Figure(figsize=(7.0, 3.5), layout="constrained").subplots()

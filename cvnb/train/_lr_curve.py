"""Reading a learning-rate range-test curve: fastai's suggestions and whether to trust it."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from fastai.callback.schedule import minimum, slide, steep, valley

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SUGGESTION_METHODS = ("minimum", "steep", "valley", "slide")
_FUNCS = {"minimum": minimum, "steep": steep, "valley": valley, "slide": slide}


@dataclass(frozen=True)
class NoiseRule:
    """When is a range-test curve too noisy to trust? Each check below marks it noisy.

    All checks look at the window fastai's suggestions use: the smoothed losses from
    iteration ``num_it // 10`` to five before the end, cut at the first NaN. Calibrated on
    real range tests here (digits, Lite0, 32 px, 100 iterations): unfrozen at batch 32 —
    drop 0.41, bumpiness 0.10, spread 1.2 decades; frozen at batch 32 — 0.24, 0.26, 0.9;
    frozen at batch 4 (noise drowns the signal) — 0.048, 2.6, 3.3, flagged.

    Attributes:
        min_points: Fewer points than this in the window (too few iterations, or the loss
            blew up almost at once) — a suggestion then rests on a handful of batches.
        min_drop: The loss must fall by at least this fraction of its value at the start of
            the window before its minimum; less means there is no clear descending region.
        max_bumpiness: On the way from the window start down to the minimum, the smoothed
            loss may rise by at most this fraction of its total drop (sum of all rises /
            drop). Above it, batch noise is as large as the signal the suggestions read.
        max_spread_decades: The suggestions may disagree by at most this many decades
            (log10 of the largest over the smallest), once the one farthest from their
            median is left out: one method astray is normal. ``steep`` (the single steepest
            step) sat on the window's first point, 1e-6, on all three real curves measured
            here, three to four decades from the others.
    """

    min_points: int = 20
    min_drop: float = 0.1
    max_bumpiness: float = 0.3
    max_spread_decades: float = 1.5


@dataclass(eq=False, repr=False)
class LRFinderResult:
    """A learning-rate range test, made by :func:`find_lr` or :func:`assess_lr_curve`.

    Attributes:
        lrs: Learning rate of each iteration (the head group's).
        losses: Training loss of each iteration, smoothed as fastai's recorder stores it
            (debiased exponential average, beta 0.98).
        raw_losses: The unsmoothed loss of each batch (None when not recorded).
        suggestions: fastai's suggestions by method name (``minimum``, ``steep``,
            ``valley``, ``slide``); NaN where a method could not run on this curve.
        recommended: The rate to use: ``suggestions[recommended_by]``.
        recommended_by: The method chosen: ``valley`` unless another was asked for (or
            valley is NaN). valley is fastai's default since 2.5: the point a third into
            the longest descending stretch, robust where ``steep`` jumps on one noisy step
            and ``minimum / 10`` overshoots on a shallow curve.
        noisy: True when the curve is too noisy to trust (see :class:`NoiseRule`).
        noise_reason: Why, with the measured numbers ("" when not noisy); several reasons
            are joined with "; ".
        checks: The measured quantities the rule compares (``n_points``, ``drop``,
            ``bumpiness``, ``spread_decades``) and ``argmin``, the iteration of the lowest
            loss in the window.
        window: ``(first, last)`` iteration indices of the suggestion window (inclusive).
        num_it: Iterations asked for; fewer were run when the loss diverged (``stopped_early``).
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray | None
    suggestions: dict[str, float]
    recommended: float
    recommended_by: str
    noisy: bool
    noise_reason: str
    checks: dict[str, float] = field(default_factory=dict)
    window: tuple[int, int] = (0, 0)
    num_it: int = 0

    @property
    def stopped_early(self) -> bool:
        """The test stopped before ``num_it`` iterations (fastai stops at 4× the best loss)."""
        return len(self.lrs) < self.num_it

    def loss_at(self, lr: float) -> float:
        """The smoothed loss at ``lr``, interpolated on the log-rate axis."""
        ok = np.isfinite(self.losses)
        if not ok.any() or not np.isfinite(lr) or lr <= 0:
            return math.nan
        return float(np.interp(np.log10(lr), np.log10(self.lrs[ok]), self.losses[ok]))

    def plot(
        self, ax: Axes | None = None, chosen: float | None = None, *, skip_end: int = 5
    ) -> Figure:
        """Loss against learning rate (log axis), each suggestion marked.

        Args:
            ax: Axes to draw into; a new Figure (not attached to pyplot) when None.
            chosen: A rate to mark with a solid vertical line (e.g. the one picked in the
                widget).
            skip_end: Leave out the last iterations, where the loss explodes (as fastai).

        Returns:
            The Figure drawn on. The descending region the noise rule looks at is shaded;
            the recommended suggestion has a larger marker; a noisy curve says why in the
            title.
        """
        if ax is None:
            from matplotlib.figure import Figure  # lazy: keeps `import cvnb.train` cheap

            fig = Figure(figsize=(7.0, 4.0), layout="constrained")
            ax = fig.subplots()
        end = max(len(self.lrs) - skip_end, 2)
        lrs, losses = self.lrs[:end], self.losses[:end]
        if self.raw_losses is not None:
            ax.plot(lrs, self.raw_losses[:end], color="0.75", lw=0.8, label="batch loss")
        ax.plot(lrs, losses, color="C0", lw=2, label="smoothed loss")
        finite = losses[np.isfinite(losses)]
        if len(finite):
            low, high = float(finite.min()), float(finite.max())
            pad = 0.1 * (high - low or abs(high) or 1.0)
            ax.set_ylim(low - pad, high + pad)
        first, lowest = self.window[0], self.checks.get("argmin", self.window[1])
        if first < lowest < len(self.lrs):
            ax.axvspan(self.lrs[first], self.lrs[int(lowest)], color="C0", alpha=0.08)
        for i, (name, lr) in enumerate(self.suggestions.items()):
            if not np.isfinite(lr):
                continue
            best = name == self.recommended_by
            ax.plot(
                [lr],
                [self.loss_at(lr)],
                "o",
                ms=10 if best else 6,
                color=f"C{i + 1}",
                label=f"{name} {lr:.1e}" + (" (recommended)" if best else ""),
            )
            ax.axvline(lr, color=f"C{i + 1}", ls=":", lw=1)
        if chosen is not None:
            ax.axvline(chosen, color="red", lw=1.5, label=f"chosen {chosen:.1e}")
        ax.set_xscale("log")
        ax.set(xlabel="learning rate", ylabel="loss")
        title = (
            f"too noisy to trust: {self.noise_reason}"
            if self.noisy
            else f"recommended {self.recommended:.1e} ({self.recommended_by})"
        )
        ax.set_title(_wrap(title, 80), fontsize=9, color="firebrick" if self.noisy else "black")
        ax.legend(fontsize=8, loc="best")
        return ax.figure

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{name}</td><td>{lr:.2e}</td>"
            f"<td>{'✔' if name == self.recommended_by else ''}</td></tr>"
            for name, lr in self.suggestions.items()
        )
        note = (
            f'<p style="color:firebrick"><b>Too noisy to trust:</b> '
            f"{html.escape(self.noise_reason)}</p>"
            if self.noisy
            else ""
        )
        return (
            f'<div class="cvnb-lr-finder"><p><b>LR finder</b>: recommended '
            f"{self.recommended:.2e} ({self.recommended_by}), {len(self.lrs)} iterations</p>"
            f"{note}<table><tr><th>method</th><th>lr</th><th>recommended</th></tr>{rows}"
            "</table></div>"
        )

    def __repr__(self) -> str:
        sugg = ", ".join(f"{k}={v:.2e}" for k, v in self.suggestions.items())
        noisy = f", noisy: {self.noise_reason}" if self.noisy else ""
        return f"LRFinderResult(recommended={self.recommended:.2e} ({self.recommended_by}); {sugg}{noisy})"


def assess_lr_curve(
    lrs: np.ndarray | list[float],
    losses: np.ndarray | list[float],
    *,
    raw_losses: np.ndarray | list[float] | None = None,
    num_it: int | None = None,
    recommend: str = "valley",
    rule: NoiseRule | None = None,
) -> LRFinderResult:
    """fastai's suggestions and the noise check for a recorded range-test curve.

    What :func:`find_lr` does after the test, on plain arrays: use it on a curve recorded
    elsewhere, or on a synthetic one. The suggestion window and methods are fastai's own
    (``fastai.callback.schedule.minimum/steep/valley/slide`` on iterations
    ``num_it // 10`` to five before the end, cut at the first NaN).

    Args:
        lrs: Learning rate per iteration, increasing.
        losses: Smoothed loss per iteration (as ``learn.recorder.losses``).
        raw_losses: Unsmoothed loss per iteration, kept for the plot.
        num_it: Iterations the test was asked for (default ``len(lrs)``).
        recommend: Method whose suggestion is :attr:`LRFinderResult.recommended`.
        rule: Noise thresholds (:class:`NoiseRule` defaults when None).

    Returns:
        An :class:`LRFinderResult`.
    """
    check_recommend(recommend)
    rule = rule or NoiseRule()
    lrs_a = np.asarray(lrs, dtype=float)
    losses_a = np.asarray(losses, dtype=float)
    if lrs_a.shape != losses_a.shape or lrs_a.ndim != 1:
        raise ValueError(
            f"lrs and losses must be 1-D and equally long: {lrs_a.shape}, {losses_a.shape}"
        )
    num_it = len(lrs_a) if num_it is None else int(num_it)
    first, last = _window(losses_a, num_it)
    w_lrs, w_losses = lrs_a[first : last + 1], losses_a[first : last + 1]
    suggestions = _suggest(w_lrs, w_losses, num_it)
    chosen = recommend
    if not np.isfinite(suggestions[chosen]):
        chosen = next(
            (m for m in ("valley", "slide", "steep", "minimum") if np.isfinite(suggestions[m])),
            recommend,
        )
    bad = np.flatnonzero(~np.isfinite(losses_a))
    stop = f"the loss became NaN at iteration {bad[0]}" if len(bad) else ""
    if not stop and len(lrs_a) < num_it:
        stop = f"the loss diverged after only {len(lrs_a)} of {num_it} iterations"
    checks, reasons = _noise_checks(w_losses, suggestions, rule, num_it, stop)
    checks["argmin"] = first + checks.get("argmin", 0.0)
    return LRFinderResult(
        lrs=lrs_a,
        losses=losses_a,
        raw_losses=None if raw_losses is None else np.asarray(raw_losses, dtype=float),
        suggestions=suggestions,
        recommended=float(suggestions[chosen]),
        recommended_by=chosen,
        noisy=bool(reasons),
        noise_reason="; ".join(reasons),
        checks=checks,
        window=(first, last),
        num_it=num_it,
    )


def check_recommend(recommend: str) -> None:
    if recommend not in SUGGESTION_METHODS:
        raise ValueError(f"recommend must be one of {SUGGESTION_METHODS}, got {recommend!r}")


def _window(losses: np.ndarray, num_it: int) -> tuple[int, int]:
    """fastai's suggestion window: ``[num_it // 10 : -5]``, cut at the first NaN."""
    first, stop = num_it // 10, len(losses) - 5
    bad = np.flatnonzero(~np.isfinite(losses[first:stop]))
    if len(bad):
        stop = first + int(bad[0])
    return first, max(stop - 1, first - 1)


def _suggest(lrs: np.ndarray, losses: np.ndarray, num_it: int) -> dict[str, float]:
    out = {}
    t_lrs, t_losses = torch.tensor(lrs), torch.tensor(losses)
    for name in SUGGESTION_METHODS:
        try:
            value = float(_FUNCS[name](t_lrs, t_losses, num_it)[0])
        except (IndexError, ValueError, RuntimeError):  # too short a curve for this method
            value = math.nan
        out[name] = value if np.isfinite(value) and value > 0 else math.nan
    return out


def _noise_checks(
    losses: np.ndarray, suggestions: dict[str, float], rule: NoiseRule, num_it: int, stop: str
) -> tuple[dict[str, float], list[str]]:
    n = len(losses)
    checks: dict[str, float] = {"n_points": float(n)}
    reasons = []
    if n < rule.min_points:
        why = f"{stop}: lower start_lr" if stop else f"only {num_it} iterations: use num_it >= 100"
        reasons.append(f"{n} points in the suggestion window (< {rule.min_points}); {why}")
    if n < 2:
        return checks, reasons
    start, low_i = float(losses[0]), int(np.argmin(losses))
    low = float(losses[low_i])
    drop = (start - low) / abs(start) if start else 0.0
    steps = np.diff(losses[: low_i + 1])
    rises = float(steps[steps > 0].sum())
    bumpiness = rises / (start - low) if start > low else math.inf
    checks.update(drop=drop, bumpiness=bumpiness, argmin=float(low_i))
    if drop < rule.min_drop:
        reasons.append(
            f"no clear descending region: the loss fell only {drop:.1%} "
            f"({start:.3g} → {low:.3g}; need {rule.min_drop:.0%})"
        )
    elif bumpiness > rule.max_bumpiness:
        reasons.append(
            f"the smoothed loss rose by {rises:.3g} in total on its way down, {bumpiness:.0%} of "
            f"its drop {start - low:.3g} (limit {rule.max_bumpiness:.0%}): use a larger batch "
            "or more iterations"
        )
    spread, kept = _spread(suggestions)
    checks["spread_decades"] = spread
    if np.isfinite(spread) and spread > rule.max_spread_decades:
        named = ", ".join(f"{k} {v:.1e}" for k, v in kept.items())
        reasons.append(
            f"the suggestions disagree by {spread:.1f} decades ({named}; limit "
            f"{rule.max_spread_decades:g})"
        )
    finite = [v for v in suggestions.values() if np.isfinite(v)]
    if not finite:
        reasons.append("no suggestion method could run on this curve")
    return checks, reasons


def _spread(suggestions: dict[str, float]) -> tuple[float, dict[str, float]]:
    """Decades between the suggestions, leaving out the one farthest from their median."""
    logs = {k: math.log10(v) for k, v in suggestions.items() if np.isfinite(v)}
    if len(logs) > 3:
        mid = float(np.median(list(logs.values())))
        logs.pop(max(logs, key=lambda k: abs(logs[k] - mid)))
    if len(logs) < 2:
        return math.nan, {}
    return max(logs.values()) - min(logs.values()), {k: suggestions[k] for k in logs}


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text

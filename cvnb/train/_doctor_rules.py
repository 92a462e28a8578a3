"""The training doctor's rules: each measures the curves against a threshold.

A rule returns None (nothing found) or ``(evidence text, measured values, plot marks)``;
:func:`cvnb.train.diagnose_curves` decides which rules run and turns results into findings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ._doctor import Curves, DoctorThresholds

# None, or (evidence text, measured values, plot marks for Finding.plot).
Rule = tuple[str, dict, dict] | None


def _start(c: Curves) -> float:
    """The loss before learning: the first batch's when recorded, else the first epoch's."""
    if c.batch_loss is not None and np.isfinite(c.batch_loss[0]):
        return float(c.batch_loss[0])
    return float(c.train_loss[0])


def diverged(c: Curves, t: DoctorThresholds) -> Rule:
    curves = [("training", c.batch_loss, "batch"), ("training", c.train_loss, "epoch")]
    if np.isfinite(c.valid_loss).any() or np.isinf(c.valid_loss).any():
        curves.append(("validation", c.valid_loss, "epoch"))
    for label, y, axis in curves:
        bad = [] if y is None else np.flatnonzero(~np.isfinite(y))
        if len(bad):
            x = int(bad[0]) + (axis == "epoch")
            text = f"the {label} loss became {y[bad[0]]} at {axis} {x}"
            return text, {"first_bad": float(x)}, {"axis": axis, "span": (x - 0.5, x + 0.5)}
    y, axis = (c.batch_loss, "batch") if c.batch_loss is not None else (c.train_loss, "epoch")
    start, end, peak = _start(c), float(y[-1]), float(np.max(y))
    values = {"start": start, "end": end, "peak": peak}
    if peak > t.explode_factor * start:
        x = int(np.argmax(y)) + (axis == "epoch")
        text = (
            f"the training loss exploded to {peak:.3g}, {peak / start:.1f}× its start "
            f"{start:.3g} (limit {t.explode_factor:g}×)"
        )
        mark = {"points": [(x, peak)], "hline": t.explode_factor * start, "logy": True}
        return text, values, {"axis": axis, **mark}
    if end > t.diverge_factor * start:
        text = (
            f"the training loss ended at {end:.3g}, {end / start:.2f}× its start {start:.3g} "
            f"(limit {t.diverge_factor:g}×)"
        )
        return text, values, {"axis": axis, "hline": t.diverge_factor * start}
    return None


def _zigzag(y: np.ndarray, h: float) -> list[tuple[int, int]]:
    """Climbs larger than ``h``: (trough index, peak index), each reversed by ``h`` or final."""
    legs, trough, peak, rising = [], 0, 0, False
    for i in range(1, len(y)):
        if not rising:
            if y[i] < y[trough]:
                trough = i
            elif y[i] - y[trough] >= h:
                rising, peak = True, i
        elif y[i] > y[peak]:
            peak = i
        elif y[peak] - y[i] >= h:
            legs.append((trough, peak))
            rising, trough = False, i
    if rising:
        legs.append((trough, peak))
    return legs


def oscillating(c: Curves, t: DoctorThresholds) -> Rule:
    candidates = []
    if c.batch_loss is not None and len(c.batch_loss) >= 10:
        candidates.append(("training loss per batch", c.batch_loss, "batch", _start(c)))
    if np.isfinite(c.valid_loss).sum() >= 4:
        candidates.append(("validation loss per epoch", c.valid_loss, "epoch", c.valid_loss[0]))
    for label, y, axis, start in candidates:
        legs = _zigzag(y, t.swing * start)
        if len(legs) >= t.min_swings:
            big = max(y[p] - y[q] for q, p in legs)
            text = (
                f"the {label} climbed back {len(legs)} times, by up to {big:.3g} "
                f"({big / start:.0%} of its start {start:.3g}; a climb counts above {t.swing:.0%})"
            )
            off = int(axis == "epoch")
            mark = {"axis": axis, "points": [(p + off, y[p]) for _, p in legs]}
            return text, {"swings": float(len(legs)), "largest": float(big)}, mark
    return None


def overfitting(c: Curves, t: DoctorThresholds) -> Rule:
    va, tr = c.valid_loss, c.train_loss
    if np.isfinite(va).sum() < 3:
        return None
    best = int(np.nanargmin(va))
    rise = float((va[-1] - va[best]) / va[best])
    if best > len(va) - 2 or rise <= t.overfit_rise or not tr[-1] < tr[best]:
        return None
    text = (
        f"validation loss was lowest at epoch {best + 1} ({va[best]:.3g}) and rose {rise:.0%} "
        f"to {va[-1]:.3g} while training loss fell {tr[best]:.3g} → {tr[-1]:.3g}"
    )
    if c.metric is not None:
        text += f"; {c.metric_name} {c.metric[best]:.3g} at best, {c.metric[-1]:.3g} at the end"
    mark = {"span": (best + 1, len(va)), "points": [(best + 1, va[best])]}
    return text, {"best_epoch": best + 1.0, "rise": rise}, mark


def lr_too_low(c: Curves, t: DoctorThresholds) -> Rule:
    on_batches = c.batch_loss is not None and len(c.batch_loss) >= 20
    y = c.batch_loss if on_batches else c.train_loss
    if len(y) < 3:
        return None
    start, mid = _start(c), (len(y) - 1) // 2
    first, second = float(y[0] - y[mid]), float(y[mid] - y[-1])
    drop = (start - float(y[-1])) / start
    if not (first > 0 and second >= t.low_lr_linearity * first and 0.02 < drop < t.low_lr_drop):
        return None
    lr = f" at a peak rate of {np.max(c.lrs):.2g}" if c.lrs is not None else ""
    text = (
        f"the training loss fell only {drop:.0%} ({start:.3g} → {y[-1]:.3g}){lr}, as fast in "
        f"its second half ({second:.3g}) as in its first ({first:.3g}): still descending steadily"
    )
    x0, x1 = (0, len(y) - 1) if on_batches else (1, len(y))
    mark = {"axis": "batch" if on_batches else "epoch", "fit": ((x0, y[0]), (x1, y[-1]))}
    return text, {"drop": drop, "first_half": first, "second_half": second}, mark


def underfitting(c: Curves, t: DoctorThresholds) -> Rule:
    start, tr, va = _start(c), c.train_loss, c.valid_loss
    high = tr[-1] >= t.underfit_loss * start and not va[-1] < t.underfit_loss * start
    metric_low = t.underfit_metric is not None and c.metric is not None
    metric_low = metric_low and c.metric[-1] < t.underfit_metric
    if not (high or metric_low):
        return None
    text = (
        f"after {len(tr)} epochs the training loss is still {tr[-1]:.3g}, "
        f"{tr[-1] / start:.0%} of its start {start:.3g} (limit {t.underfit_loss:.0%})"
    )
    text += f", validation {va[-1]:.3g}" if np.isfinite(va[-1]) else ""
    text += f"; {c.metric_name} {c.metric[-1]:.3g}" if c.metric is not None else ""
    return text, {"ratio": float(tr[-1] / start)}, {"hline": t.underfit_loss * start}


def plateau(c: Curves, t: DoctorThresholds) -> Rule:
    k = t.plateau_epochs
    valid = np.isfinite(c.valid_loss).all()
    y, label = (c.valid_loss, "validation") if valid else (c.train_loss, "training")
    if len(y) < k + 1:
        return None
    before, last = float(np.min(y[:-k])), float(np.min(y[-k:]))
    gain = (before - last) / before
    annealed = c.lrs is not None and c.lrs[-1] < t.annealed * np.max(c.lrs)
    if gain >= t.plateau_tol or annealed:  # an annealed schedule ends flat by design
        return None
    rate = f" at a rate of {c.lrs[-1]:.2g}" if c.lrs is not None else ""
    text = (
        f"the {label} loss improved {gain:.1%} over the last {k} epochs ({before:.3g} → "
        f"{last:.3g}; limit {t.plateau_tol:.0%}){rate}"
    )
    return text, {"gain": gain}, {"span": (len(y) - k + 0.5, len(y) + 0.5)}

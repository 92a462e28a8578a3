"""Per-group learning rates: geometric spreads, the learner's current rates, fastai code."""

from __future__ import annotations

import numpy as np
from fastai.learner import Learner
from fastcore.basics import even_mults

DEFAULT_LR_SPREAD = 100.0  # fastai fine_tune's lr_mult: slice(base_lr / 100, base_lr)


def discriminative_lrs(base_lr: float, n_groups: int, spread: float) -> np.ndarray:
    """Per-group learning rates, evenly spaced on a log scale from input to head.

    The first group gets ``base_lr / spread``, the last (the head) ``base_lr``: exactly
    what fastai gives for ``lr=slice(base_lr / spread, base_lr)`` (``even_mults``).

    Args:
        base_lr: The head's rate.
        n_groups: Number of groups.
        spread: Head rate over first-group rate (1 = one rate for all).

    Returns:
        Array of ``n_groups`` rates, increasing towards the head.

    Example:
        >>> discriminative_lrs(1e-3, 3, 100).round(6).tolist()
        [1e-05, 0.0001, 0.001]
    """
    if not base_lr > 0 or not spread >= 1 or n_groups < 1:
        raise ValueError(
            f"need base_lr > 0, spread >= 1 and n_groups >= 1; got base_lr={base_lr}, "
            f"spread={spread}, n_groups={n_groups}"
        )
    if n_groups == 1 or spread == 1:
        return np.full(n_groups, float(base_lr))
    return np.asarray(even_mults(base_lr / spread, base_lr, n_groups), dtype=float)


def _current_lrs(learn: Learner, n: int) -> np.ndarray:
    if learn.opt is not None:
        return np.array([h["lr"] for h in learn.opt.hypers], dtype=float)
    lr = learn.lr
    if isinstance(lr, slice):
        if lr.start:
            return discriminative_lrs(lr.stop, n, lr.stop / lr.start)
        return np.array([lr.stop / 10] * (n - 1) + [lr.stop], dtype=float)
    return np.broadcast_to(np.asarray(lr, dtype=float), (n,)).copy()


def _target_lrs(
    learn: Learner, n: int, base_lr: float | None, lr_spread: float | None
) -> np.ndarray:
    current = _current_lrs(learn, n)
    if lr_spread is not None:
        return discriminative_lrs(base_lr if base_lr is not None else current[-1], n, lr_spread)
    if base_lr is not None:
        if not base_lr > 0:
            raise ValueError(f"base_lr must be > 0, got {base_lr}")
        return base_lr * current / current[-1]
    return current


def _lr_source(lrs: np.ndarray) -> str:
    if np.allclose(lrs, lrs[-1], rtol=1e-9):
        return f"{lrs[-1]:.3g}"
    if len(lrs) > 1 and np.allclose(lrs, even_mults(lrs[0], lrs[-1], len(lrs)), rtol=1e-6):
        return f"slice({lrs[0]:.3g}, {lrs[-1]:.3g})"
    return "[" + ", ".join(f"{v:.3g}" for v in lrs) + "]"

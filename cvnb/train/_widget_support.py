"""What a freeze setting *would* do, before it is applied: for the layer-freeze controls.

:func:`cvnb.train.apply_freeze` and :func:`cvnb.train.freeze_code` act on (and read) the
learner itself. The layer-freeze widget shows the resulting table and code while the user is
still toggling groups, so :func:`preview_freeze` runs exactly those two functions and then
puts back everything ``apply_freeze`` touches: each parameter's ``requires_grad``, the
optimizer (or its absence), its per-parameter state, hyper-parameters and ``frozen_idx``, and
``learn.lr``. It does not copy the weights, which ``apply_freeze`` never changes, so a preview
costs the same on a large model as on a small one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._freeze import apply_freeze, freeze_code

if TYPE_CHECKING:
    import pandas as pd
    from fastai.learner import Learner

__all__ = ["preview_freeze", "schedule_from_epochs"]


def preview_freeze(
    learn: Learner,
    trainable: Sequence[bool] | Mapping[str | int, bool] | None = None,
    *,
    base_lr: float | None = None,
    lr_spread: float | None = None,
    schedule: Mapping[int, object] | None = None,
    epochs: int = 1,
    method: str = "fit_one_cycle",
) -> tuple[pd.DataFrame, str]:
    """The table and code :func:`apply_freeze` + :func:`freeze_code` would give, learner unchanged.

    Args:
        learn: A fastai ``Learner``.
        trainable: As in :func:`cvnb.train.apply_freeze`.
        base_lr: As in :func:`cvnb.train.apply_freeze`.
        lr_spread: As in :func:`cvnb.train.apply_freeze`.
        schedule: An unfreeze schedule for the code (:class:`cvnb.train.UnfreezeSchedule`).
        epochs: Epochs in the code's fit call.
        method: ``fit_one_cycle``, ``fit_flat_cos`` or ``fit``.

    Returns:
        ``(table, code)``: the :func:`cvnb.train.layer_table` that applying would return,
        and the equivalent fastai code.

    Raises:
        ValueError: As :func:`cvnb.train.apply_freeze` (wrong number of flags, unknown
            group, a rate that is not positive) or :func:`cvnb.train.freeze_code`.
    """
    with _restored(learn):
        table = apply_freeze(learn, trainable, base_lr=base_lr, lr_spread=lr_spread)
        code = freeze_code(learn, epochs=epochs, method=method, schedule=schedule)
    return table, code


def schedule_from_epochs(
    unfreeze_at: Mapping[str, int], groups: Sequence[str], trainable: Sequence[bool]
) -> dict[int, list[str]]:
    """Turn ``{group: epoch}`` into the ``{epoch: [groups]}`` of an UnfreezeSchedule.

    Groups that already train are left out (there is nothing to unfreeze); the groups of one
    epoch are listed input to output.

    Args:
        unfreeze_at: Epoch (from 0) at whose start each named group unfreezes.
        groups: All group names, input to output.
        trainable: Whether each group trains now.

    Returns:
        ``{epoch: [group names]}``, epochs ascending; empty when nothing is scheduled.

    Raises:
        ValueError: An unknown group name, or an epoch that is not an integer >= 0.

    Example:
        >>> schedule_from_epochs({"b": 2, "a": 2, "c": 1}, ["a", "b", "c"], [False] * 3)
        {1: ['c'], 2: ['a', 'b']}
    """
    plan: dict[int, list[str]] = {}
    for name, epoch in unfreeze_at.items():
        if name not in groups:
            raise ValueError(f"unknown layer group {name!r}; the groups are {list(groups)}")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"unfreeze epoch of {name!r} must be an integer >= 0, got {epoch!r}")
    for name, on in zip(groups, trainable, strict=True):
        if not on and name in unfreeze_at:
            plan.setdefault(int(unfreeze_at[name]), []).append(name)
    return dict(sorted(plan.items()))


@contextmanager
def _restored(learn: Learner) -> Iterator[None]:
    """Put back what apply_freeze changes: flags, optimizer state/hypers/frozen_idx, learn.lr."""
    params = list(learn.model.parameters())
    flags = [p.requires_grad for p in params]
    opt, lr = learn.opt, copy.copy(learn.lr)
    saved = None
    if opt is not None:
        # apply_freeze replaces a changed parameter's state dict and never steps, so a shallow
        # copy of each state dict (tensors shared, not cloned) is a faithful snapshot.
        state = {p: dict(s) for p, s in opt.state.items()}
        saved = state, [dict(h) for h in opt.hypers], opt.frozen_idx
    try:
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
        learn.opt, learn.lr = opt, lr
        if saved is not None:
            state, hypers, frozen_idx = saved
            opt.state.clear()
            opt.state.update(state)
            for hyper, values in zip(opt.hypers, hypers, strict=True):
                hyper.clear()
                hyper.update(values)
            opt.frozen_idx = frozen_idx

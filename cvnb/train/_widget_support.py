"""The layer-freeze controls' per-group unfreeze epochs, as an UnfreezeSchedule's plan.

What a freeze setting would do before it is applied is :func:`cvnb.train.plan_freeze` (a
pure plan; nothing on the learner is touched and put back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["schedule_from_epochs"]


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

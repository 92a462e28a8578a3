"""LayerFreezeWidget: freeze/unfreeze layer groups, set discriminative rates, see the code."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import traitlets

from cvnb.train._freeze import UnfreezeSchedule, apply_freeze, layer_table, plan_freeze
from cvnb.train._widget_support import schedule_from_epochs
from cvnb.widgets._assets import asset_path, widget_css
from cvnb.widgets._base import dispatch_action, report_errors

if TYPE_CHECKING:
    import pandas as pd
    from fastai.learner import Learner

    from cvnb.widgets._lr_finder import LRFinderWidget

__all__ = ["LayerFreezeWidget"]

METHODS = ("fit_one_cycle", "fit_flat_cos", "fit")
_ACTIONS = ("apply", "reset")
_SETTINGS = ("trainable", "base_lr", "lr_spread", "unfreeze_at", "epochs", "method")


class LayerFreezeWidget(anywidget.AnyWidget):
    """The learner's layer groups as a table: freeze or train each, with per-group rates.

    One row per layer group, input to output (``stem``, ``stage1`` … ``head`` for a
    :func:`cvnb.train.make_learner` learner): parameters, a trainable/frozen toggle, the
    learning-rate multiplier and rate. Rates are discriminative: the head gets ``base_lr``,
    the first group ``base_lr / lr_spread``, geometrically in between (fastai's
    ``slice(lo, hi)``; ``lr_spread = 1`` gives every group the same rate). A frozen group
    can be given an epoch at which it unfreezes during the next fit (an
    :class:`cvnb.train.UnfreezeSchedule`). The table, the live count of trainable
    parameters and the equivalent fastai code follow every change at once; nothing touches
    the learner until "Apply" (or :meth:`apply`), which calls
    :func:`cvnb.train.apply_freeze`. Afterwards the optimizer's per-group ``lr`` and every
    parameter's ``requires_grad`` are what the table shows (frozen groups keep training
    their normalization layers, fastai's ``train_bn``: ``n_trainable`` counts them).

    Train with ``learn.fit_one_cycle(w.epochs, cbs=w.callbacks)`` (the rates are the
    learner's after applying), or run ``w.code``.

    The settings start from the learner's state when the widget is built; "Reset" (or
    :meth:`reset`) reads it again after something else changed the learner (a fit with an
    unfreeze schedule, ``learn.unfreeze()``). Built with ``lr_finder=`` an
    :class:`LRFinderWidget`, the head rate follows it: each rate applied there becomes
    ``base_lr`` here.

    Input traits (Python ⇄ browser):
        trainable (list[bool]): One flag per group, input to output.
        base_lr (float): The head group's rate (> 0). Starts at the learner's head rate.
        lr_spread (float): Head rate over the first group's (>= 1). Starts at the learner's.
        unfreeze_at (dict[str, int]): Epoch (from 0) at which a frozen group unfreezes;
            entries for groups that train already are ignored (kept for when they freeze).
        epochs (int): Epochs in the generated code's fit call.
        method (str): ``fit_one_cycle``, ``fit_flat_cos`` or ``fit`` for the code.
        action (dict): A request the browser sets and Python clears: ``{"kind": "apply"}``,
            or ``{"kind": "reset"}`` (back to the learner's current state).

    Output traits (Python → browser):
        groups (list[str]): Group names, input to output.
        rows (list[dict]): The table the settings give: ``group``, ``n_params``,
            ``trainable``, ``n_trainable`` (parameters that get gradients), ``lr_mult``,
            ``lr`` and ``unfreeze_at`` (an epoch, or None).
        n_params (int), n_trainable (int): Parameters in all, and those that would train.
        code (str): fastai code that reproduces the settings (:func:`cvnb.train.freeze_code`).
        applied (bool): The learner is in the state the table shows (after Apply, or when
            nothing was changed).
        error (str): Message shown in the widget's error area; empty when all is well.

    Args:
        learn: A fastai ``Learner`` whose splitter gives the layer groups.
        lr_finder: An :class:`LRFinderWidget` on the same learner whose applied rate
            ``base_lr`` follows.
        **kwargs: Initial trait values, e.g. ``lr_spread=10``, ``unfreeze_at={"stage7": 1}``.

    Example:
        >>> w = LayerFreezeWidget(learn)  # doctest: +SKIP
        >>> w.trainable = [False] * 6 + [True] * 3; w.lr_spread = 10; w.apply()  # doctest: +SKIP
        >>> learn.fit_one_cycle(w.epochs, cbs=w.callbacks)  # doctest: +SKIP
    """

    _esm = asset_path("freeze.js")
    _css = widget_css("freeze.css")

    trainable = traitlets.List(traitlets.Bool()).tag(sync=True)
    base_lr = traitlets.Float(1e-3).tag(sync=True)
    lr_spread = traitlets.Float(1.0).tag(sync=True)
    unfreeze_at = traitlets.Dict().tag(sync=True)
    epochs = traitlets.Int(3).tag(sync=True)
    method = traitlets.Unicode(METHODS[0]).tag(sync=True)
    action = traitlets.Dict().tag(sync=True)

    groups = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    n_params = traitlets.Int(0).tag(sync=True)
    n_trainable = traitlets.Int(0).tag(sync=True)
    code = traitlets.Unicode("").tag(sync=True)
    applied = traitlets.Bool(True).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, learn: Learner, *, lr_finder: LRFinderWidget | None = None, **kwargs: Any
    ) -> None:
        self._learn = learn
        self._ready = False
        self._table: pd.DataFrame | None = None
        super().__init__(**{**_current_settings(learn), **kwargs})
        self._ready = True
        self._refresh()
        if lr_finder is not None:
            lr_finder.observe(self._follow_lr, names="applied_lr")

    # ----------------------------------------------------------------- validation
    @traitlets.validate("trainable")
    def _check_trainable(self, proposal: Any) -> list[bool]:
        value = [bool(v) for v in proposal["value"]]
        if self.groups and len(value) != len(self.groups):
            raise traitlets.TraitError(
                f"trainable needs one flag per layer group ({len(self.groups)}: "
                f"{', '.join(self.groups)}), got {len(value)}."
            )
        return value

    @traitlets.validate("base_lr", "lr_spread")
    def _check_rate(self, proposal: Any) -> float:
        name, value = proposal["trait"].name, float(proposal["value"])
        low_ok = value >= 1 if name == "lr_spread" else value > 0
        if not (math.isfinite(value) and low_ok):
            need = ">= 1 (1: one rate for all groups)" if name == "lr_spread" else "> 0"
            raise traitlets.TraitError(f"{name} must be finite and {need}, got {value}.")
        return value

    @traitlets.validate("unfreeze_at")
    def _check_unfreeze_at(self, proposal: Any) -> dict[str, int]:
        value = dict(proposal["value"])
        if self.groups:
            try:
                schedule_from_epochs(value, self.groups, [False] * len(self.groups))
            except ValueError as exc:
                raise traitlets.TraitError(str(exc)) from None
        return value

    @traitlets.validate("epochs")
    def _check_epochs(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise traitlets.TraitError(f"epochs must be at least 1, got {proposal['value']}.")
        return proposal["value"]

    @traitlets.validate("method")
    def _check_method(self, proposal: Any) -> str:
        if proposal["value"] not in METHODS:
            raise traitlets.TraitError(
                f"method must be one of {METHODS}, got {proposal['value']!r}."
            )
        return proposal["value"]

    # ------------------------------------------------------------------ observers
    @traitlets.observe(*_SETTINGS)
    @report_errors
    def _on_settings(self, change: Any) -> None:
        if self._ready:
            self._refresh()

    @report_errors
    def _follow_lr(self, change: Any) -> None:
        if change["new"] > 0:
            self.base_lr = change["new"]

    @traitlets.observe("action")
    @report_errors
    def _on_action(self, change: Any) -> None:
        dispatch_action(self, change["new"], _ACTIONS)

    # ----------------------------------------------------------------------- API
    @property
    def table(self) -> pd.DataFrame:
        """The table the settings give (a :func:`cvnb.train.layer_table` DataFrame)."""
        return self._table.copy()

    @property
    def schedule(self) -> dict[int, list[str]]:
        """``{epoch: [groups]}`` to unfreeze during the next fit (frozen groups only)."""
        return schedule_from_epochs(self.unfreeze_at, self.groups, self.trainable)

    @property
    def callbacks(self) -> list[UnfreezeSchedule]:
        """``[UnfreezeSchedule(w.schedule)]``, or ``[]``: pass as ``cbs=`` to the fit call."""
        plan = self.schedule
        return [UnfreezeSchedule(plan)] if plan else []

    def apply(self) -> pd.DataFrame:
        """Freeze/unfreeze the groups and set their rates on the learner (``apply_freeze``).

        Returns:
            The learner's :func:`cvnb.train.layer_table` after the change.
        """
        table = apply_freeze(
            self._learn, self.trainable, base_lr=self.base_lr, lr_spread=self.lr_spread
        )
        self.applied, self.error = True, ""
        return table

    def reset(self) -> None:
        """Back to the learner's current freezing and rates (undoes unapplied changes)."""
        self._ready = False  # one refresh below, not one per trait
        try:
            with self.hold_trait_notifications():
                for name, value in _current_settings(self._learn).items():
                    setattr(self, name, value)
        finally:
            self._ready = True
        self._refresh()

    def __repr__(self) -> str:
        state = "applied" if self.applied else "not applied"
        return (
            f"<LayerFreezeWidget: {self.n_trainable:,} of {self.n_params:,} parameters "
            f"train; {state}>"
        )

    # ------------------------------------------------------------------ internals
    def _refresh(self) -> None:
        planned = plan_freeze(
            self._learn, self.trainable, base_lr=self.base_lr, lr_spread=self.lr_spread
        )
        code = planned.code(schedule=self.schedule, epochs=self.epochs, method=self.method)
        table = planned.table
        self._table = table
        plan = {g: e for e, groups in self.schedule.items() for g in groups}
        rows = [
            {
                "group": str(r.group),
                "n_params": int(r.n_params),
                "trainable": bool(r.trainable),
                "n_trainable": int(r.n_trainable),
                "lr_mult": float(r.lr_mult),
                "lr": float(r.lr),
                "unfreeze_at": plan.get(str(r.group)),
            }
            for r in table.itertuples()
        ]
        with self.hold_sync():
            self.rows = rows
            self.n_params = int(table["n_params"].sum())
            self.n_trainable = int(table["n_trainable"].sum())
            self.code = code
            self.applied = _matches(layer_table(self._learn), table)
            self.error = ""


def _current_settings(learn: Learner) -> dict[str, Any]:
    table = layer_table(learn)
    lrs = table["lr"].to_numpy()
    return {
        "groups": [str(g) for g in table["group"]],
        "trainable": [bool(v) for v in table["trainable"]],
        "base_lr": float(lrs[-1]),
        "lr_spread": max(1.0, float(lrs[-1] / lrs[0])),
    }


def _matches(current: pd.DataFrame, wanted: pd.DataFrame) -> bool:
    return bool(
        (current["trainable"].to_numpy() == wanted["trainable"].to_numpy()).all()
        and np.allclose(current["lr"].to_numpy(), wanted["lr"].to_numpy(), rtol=1e-9)
    )

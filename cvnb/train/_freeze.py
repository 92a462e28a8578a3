"""Freeze and unfreeze layer groups, with discriminative (per-group) learning rates.

The learner's optimizer groups are the model's layer groups (``stem``, ``stage1`` …,
``head``; :func:`cvnb.models.layer_groups`), as :func:`cvnb.train.make_learner` builds it.
Freezing follows fastai's ``freeze_to`` exactly, for any set of groups rather than only a
prefix: a frozen group's parameters stop receiving gradients, except its normalization
layers (BatchNorm…) while ``learn.train_bn`` is True (fastai's default; the optimizer marks
them ``force_train``). Those keep training at the group's rate, so :func:`layer_table`
reports both ``trainable`` (the group's own weights train) and ``n_trainable`` (parameters
that actually get gradients, its normalization layers included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from fastai.callback.core import Callback
from fastai.learner import Learner
from fastai.torch_core import norm_bias_params

from cvnb.models import layer_groups

from ._rates import _lr_source, _target_lrs

TABLE_COLUMNS = ("group", "n_params", "trainable", "n_trainable", "lr_mult", "lr")


def group_names(learn: Learner) -> list[str]:
    """Names of the learner's parameter groups: the model's layer groups when they match.

    For a learner whose splitter is not :func:`cvnb.models.param_groups` the names are
    ``group0`` … ``groupN``.
    """
    groups = learn.splitter(learn.model)
    try:
        named = layer_groups(learn.model)
    except TypeError:  # not a timm model
        named = []
    params = dict(learn.model.named_parameters())
    if len(named) == len(groups) and all(
        [id(p) for p in g] == [id(params[n]) for n in lg.param_names]
        for g, lg in zip(groups, named, strict=True)
    ):
        return [g.name for g in named]
    return [f"group{i}" for i in range(len(groups))]


def layer_table(
    learn: Learner, *, base_lr: float | None = None, lr_spread: float | None = None
) -> pd.DataFrame:
    """The learner's layer groups as a table: size, frozen or not, learning rate.

    Args:
        learn: A fastai ``Learner``.
        base_lr: Show the rates ``apply_freeze(..., base_lr=base_lr)`` would set (the
            head's rate; the other groups keep their current multipliers unless
            ``lr_spread`` is given). None shows the current rates: the optimizer's, or
            ``learn.lr`` before the optimizer exists.
        lr_spread: Show a geometric spread (:func:`discriminative_lrs`) from the current
            head rate (or ``base_lr``).

    Returns:
        One row per group, input to output, with columns ``group`` (name), ``n_params``,
        ``trainable`` (the group's weights train), ``n_trainable`` (its parameters that
        get gradients: all when trainable; its normalization layers when frozen and
        ``train_bn``), ``lr_mult`` (rate over the head's rate) and ``lr``.
    """
    groups = learn.splitter(learn.model)
    lrs = _target_lrs(learn, len(groups), base_lr, lr_spread)
    return _table(learn, groups, _current_flags(learn, groups), lrs, planned=False)


@dataclass(frozen=True)
class FreezePlan:
    """What :func:`apply_freeze` will do, computed without touching the learner.

    Attributes:
        groups: Group names, input to output.
        trainable: Whether each group's own weights will train.
        lrs: Each group's rate after applying (the current rates when ``set_rates`` is False).
        set_rates: Whether applying sets the optimizer's rates (``base_lr`` or ``lr_spread``
            was given).
        table: The :func:`layer_table` the learner will have after applying.
    """

    groups: tuple[str, ...]
    trainable: tuple[bool, ...]
    lrs: tuple[float, ...]
    set_rates: bool
    table: pd.DataFrame

    def code(
        self,
        *,
        epochs: int = 1,
        method: str = "fit_one_cycle",
        schedule: Mapping[int, object] | None = None,
        name: str = "learn",
    ) -> str:
        """The fastai code :func:`freeze_code` will give once the plan is applied."""
        return _code(self.table, epochs=epochs, method=method, schedule=schedule, name=name)


def plan_freeze(
    learn: Learner,
    trainable: Sequence[bool] | Mapping[str | int, bool] | None = None,
    *,
    base_lr: float | None = None,
    lr_spread: float | None = None,
) -> FreezePlan:
    """The freezing and rates :func:`apply_freeze` would set, as a pure plan.

    Reads the learner and changes nothing (no optimizer is created, no flag moves), so a
    widget can show the table and code on every slider move and apply once.

    Args:
        learn: A fastai ``Learner``.
        trainable: As in :func:`apply_freeze`.
        base_lr: As in :func:`apply_freeze`.
        lr_spread: As in :func:`apply_freeze`.

    Returns:
        A :class:`FreezePlan`; ``apply_freeze(learn, plan)`` applies it.

    Raises:
        ValueError: Wrong number of flags, an unknown group name, a rate that is not positive.

    Example:
        >>> plan = plan_freeze(learn, {"stage7": True}, base_lr=1e-3, lr_spread=10)  # doctest: +SKIP
        >>> plan.table, print(plan.code(epochs=3))  # doctest: +SKIP
        >>> apply_freeze(learn, plan)  # doctest: +SKIP
    """
    groups = learn.splitter(learn.model)
    names = group_names(learn)
    current = _current_flags(learn, groups)
    flags = _resolve({} if trainable is None else trainable, names, current)
    lrs = _target_lrs(learn, len(names), base_lr, lr_spread)
    table = _table(learn, groups, flags, lrs, planned=True)
    set_rates = base_lr is not None or lr_spread is not None
    return FreezePlan(tuple(names), tuple(flags), tuple(float(x) for x in lrs), set_rates, table)


def _current_flags(learn: Learner, groups) -> list[bool]:
    norms = {id(p) for p in norm_bias_params(learn.model, with_bias=False)}
    return [
        all(p.requires_grad for p in ([p for p in g if id(p) not in norms] or list(g)))
        for g in groups
    ]


def _table(learn: Learner, groups, flags, lrs, *, planned: bool) -> pd.DataFrame:
    """The layer table for ``flags``; ``planned``: count what applying them would train."""
    norms = {id(p) for p in norm_bias_params(learn.model, with_bias=False)}
    train_bn = bool(getattr(learn, "train_bn", True))
    rows = []
    for name, group, flag, lr in zip(group_names(learn), groups, flags, lrs, strict=True):
        if planned:
            n_trainable = sum(p.numel() for p in group if flag or (train_bn and id(p) in norms))
        else:
            n_trainable = sum(p.numel() for p in group if p.requires_grad)
        rows.append(
            {
                "group": name,
                "n_params": sum(p.numel() for p in group),
                "trainable": bool(flag),
                "n_trainable": n_trainable,
                "lr_mult": float(lr / lrs[-1]),
                "lr": float(lr),
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def apply_freeze(
    learn: Learner,
    trainable: Sequence[bool] | Mapping[str | int, bool] | FreezePlan | None = None,
    *,
    base_lr: float | None = None,
    lr_spread: float | None = None,
) -> pd.DataFrame:
    """Freeze or unfreeze each layer group and set per-group learning rates.

    Creates the optimizer if there is none. Each group's parameters get
    ``requires_grad = trainable`` (fastai's rule: normalization layers keep training when
    ``learn.train_bn``); groups whose state changed lose their optimizer state, as with
    fastai's ``freeze_to``. With ``base_lr`` or ``lr_spread`` the optimizer's rates are set
    and ``learn.lr`` becomes the array of per-group rates, so ``learn.fit(n)``,
    ``fit_one_cycle(n)`` and ``fit_flat_cos(n)`` without a rate use them.

    Args:
        learn: A fastai ``Learner`` (e.g. from :func:`cvnb.train.make_learner`).
        trainable: One flag per group, input to output; or a mapping from group names
            (or indices) to flags, leaving the groups it does not name as they are; None
            changes only the rates (``apply_freeze(learn, base_lr=result.recommended)``
            applies an LR-finder rate to the head, the other groups keeping their
            multipliers); or a :class:`FreezePlan` from :func:`plan_freeze` (then
            ``base_lr`` and ``lr_spread`` must be None: the plan holds the rates).
        base_lr: The head's rate; see :func:`layer_table`.
        lr_spread: Head rate over first-group rate (:func:`discriminative_lrs`).

    Returns:
        :func:`layer_table` after the change: its ``lr`` column equals the optimizer's
        per-group ``lr``.

    Raises:
        ValueError: Wrong number of flags, or an unknown group name.

    Example:
        >>> apply_freeze(learn, {"stage6": True, "stage7": True}, base_lr=1e-3, lr_spread=10)  # doctest: +SKIP
    """
    if isinstance(trainable, FreezePlan):
        if base_lr is not None or lr_spread is not None:
            raise ValueError("a FreezePlan holds its rates: give base_lr/lr_spread to plan_freeze")
        plan = trainable
    else:
        plan = plan_freeze(learn, trainable, base_lr=base_lr, lr_spread=lr_spread)
    if list(plan.groups) != group_names(learn):
        raise ValueError("this FreezePlan was made for another learner (its groups differ)")
    if learn.opt is None:
        learn.create_opt()
    opt = learn.opt
    current = _current_flags(learn, learn.splitter(learn.model))
    flags, lrs = list(plan.trainable), np.asarray(plan.lrs, dtype=float)
    for i, (flag, was) in enumerate(zip(flags, current, strict=True)):
        for p, pg, state, hyper in opt.all_params(slice(i, i + 1)):
            if flag != was:
                opt.state[p] = {k: state[k] for k in opt._keep_on_clear if k in state}
            opt._set_require_grad(flag, p, pg, opt.state[p], hyper)
    opt.frozen_idx = _leading_frozen(flags)
    if plan.set_rates:
        opt.set_hyper("lr", lrs)
        learn.lr = np.asarray(lrs, dtype=float)
    return layer_table(learn)


def freeze_code(
    learn: Learner,
    *,
    epochs: int = 1,
    method: str = "fit_one_cycle",
    schedule: Mapping[int, object] | None = None,
    name: str = "learn",
) -> str:
    """Plain fastai code that reproduces the learner's current freezing and rates.

    Args:
        learn: The learner, after :func:`apply_freeze`.
        epochs: Epochs in the fit call.
        method: ``fit_one_cycle``, ``fit_flat_cos`` or ``fit``.
        schedule: An unfreeze schedule to include (see :class:`UnfreezeSchedule`).
        name: The learner's variable name.

    Returns:
        Python source (the function does not print; ``print(freeze_code(learn))``).
    """
    return _code(layer_table(learn), epochs=epochs, method=method, schedule=schedule, name=name)


def _code(table: pd.DataFrame, *, epochs: int, method: str, schedule, name: str) -> str:
    flags = table["trainable"].tolist()
    lines = []
    frozen = [g for g, on in zip(table["group"], flags, strict=True) if not on]
    k = _leading_frozen(flags)
    if not frozen:
        lines.append(f"{name}.unfreeze()")
    elif k == len(frozen):
        lines.append(f"{name}.freeze_to({k})  # frozen: {', '.join(frozen)}")
    else:
        idx = [i for i, on in enumerate(flags) if not on]
        lines += [
            f"{name}.unfreeze()",
            f"for i in {tuple(idx)}:  # frozen: {', '.join(frozen)}",
            f"    for p in {name}.opt.param_lists[i]:  # norm layers keep training (train_bn)",
            f'        p.requires_grad_({name}.opt.state[p].get("force_train", False))',
        ]
    cbs = ""
    if schedule:
        plan = UnfreezeSchedule(schedule).schedule
        for groups in plan.values():
            _indices(groups, table["group"].tolist())  # unknown names raise here
        lines.insert(0, "from cvnb.train import UnfreezeSchedule")
        cbs = f", cbs=[UnfreezeSchedule({plan!r})]"
    lines.append(f"{name}.{method}({epochs}, {_lr_source(table['lr'].to_numpy())}{cbs})")
    return "\n".join(lines) + "\n"


class UnfreezeSchedule(Callback):
    """Unfreeze layer groups at the start of given epochs, during one fit.

    ``UnfreezeSchedule({1: ["stage6", "stage7"], 3: "all"})`` unfreezes stage6 and stage7
    before the second epoch (epochs count from 0, as ``learn.epoch``) and everything
    before the fourth. Groups are named as in :func:`layer_table` or given by index;
    ``"all"`` means every group. Newly unfrozen parameters start with a fresh optimizer
    state; groups already training keep theirs (so momentum is not lost mid-fit). Each
    group trains at its own rate in the optimizer (set them with :func:`apply_freeze`).

    Attributes:
        schedule: ``{epoch: [group names or indices]}`` as given.
        unfrozen: ``{epoch: [names]}`` of the groups this fit actually unfroze.
    """

    order = 1  # before ParamScheduler (60): the epoch starts with the new groups

    def __init__(self, schedule: Mapping[int, str | int | Sequence[str | int]]):
        plan = {}
        for epoch, groups in dict(schedule).items():
            if not isinstance(epoch, int | np.integer) or epoch < 0:
                raise ValueError(f"schedule keys are epochs (integers >= 0), got {epoch!r}")
            plan[int(epoch)] = [groups] if isinstance(groups, str | int) else list(groups)
        self.schedule = plan
        self.unfrozen: dict[int, list[str]] = {}

    def before_fit(self) -> None:
        names = group_names(self.learn)
        self._plan = {e: _indices(g, names) for e, g in self.schedule.items()}
        self._names = names
        self.unfrozen = {}

    def before_epoch(self) -> None:
        if self.epoch not in self._plan:
            return
        opt, done = self.learn.opt, []
        for i in self._plan[self.epoch]:
            group = list(opt.all_params(slice(i, i + 1)))
            if all(o[0].requires_grad for o in group):
                continue
            for p, pg, state, hyper in group:
                if not p.requires_grad:  # never stepped while frozen: start it fresh
                    opt.state[p] = {k: state[k] for k in opt._keep_on_clear if k in state}
                opt._set_require_grad(True, p, pg, opt.state[p], hyper)
            done.append(self._names[i])
        opt.frozen_idx = _leading_frozen(layer_table(self.learn)["trainable"].tolist())
        self.unfrozen[self.epoch] = done


def _leading_frozen(flags: Sequence[bool]) -> int:
    return next((i for i, on in enumerate(flags) if on), len(flags))


def _indices(groups: Sequence[str | int], names: list[str]) -> list[int]:
    out = []
    for g in groups:
        if g == "all":
            out += range(len(names))
        elif isinstance(g, int | np.integer) and -len(names) <= g < len(names):
            out.append(int(g) % len(names))
        elif isinstance(g, str) and g in names:
            out.append(names.index(g))
        else:
            raise ValueError(f"unknown layer group {g!r}; the groups are {names} (or indices)")
    return out


def _resolve(
    trainable: Sequence[bool] | Mapping[str | int, bool], names: list[str], current: list[bool]
) -> list[bool]:
    if isinstance(trainable, Mapping):
        flags = list(current)
        for key, on in trainable.items():
            (i,) = _indices([key], names)
            flags[i] = bool(on)
        return flags
    flags = [bool(v) for v in trainable]
    if len(flags) != len(names):
        raise ValueError(
            f"trainable has {len(flags)} flags but the learner has {len(names)} groups "
            f"({names}); give one per group or a dict {{name: bool}}"
        )
    return flags

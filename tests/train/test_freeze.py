"""Layer-freeze controls: the optimizer's groups and rates match the table, in real fastai."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from fastai.callback.core import Callback
from fastai.optimizer import Adam
from fastai.torch_core import norm_bias_params
from fastcore.basics import even_mults
from torch import nn

from cvnb.models import layer_groups
from cvnb.train import make_learner
from cvnb.train._freeze import (
    TABLE_COLUMNS,
    UnfreezeSchedule,
    apply_freeze,
    freeze_code,
    layer_table,
    plan_freeze,
)
from cvnb.train._freeze_plot import plot_layer_table
from cvnb.train._rates import discriminative_lrs

NAMES = ["stem", *(f"stage{i}" for i in range(1, 8)), "head"]


@pytest.fixture(scope="module")
def small(digits_subset):
    keep = digits_subset.groupby(["split", "label"]).cumcount() < 6  # 60 train, 60 valid
    return digits_subset[keep].reset_index(drop=True)


def _learner(df, **kwargs):
    return make_learner(df, img_size=32, bs=20, **kwargs)


def _norm_ids(learn) -> set[int]:
    return {id(p) for p in norm_bias_params(learn.model, with_bias=False)}


@pytest.mark.parametrize(("n", "spread"), [(9, 100.0), (4, 10.0), (2, 3.0)])
def test_discriminative_lrs_match_fastais_slice(n, spread):
    base = 1e-3
    lrs = discriminative_lrs(base, n, spread)
    opt = Adam([[nn.Parameter(torch.zeros(1))] for _ in range(n)], lr=1.0)
    opt.set_hyper("lr", slice(base / spread, base))  # what fit(..., slice(lo, hi)) does
    np.testing.assert_allclose(lrs, [h["lr"] for h in opt.hypers], rtol=1e-12)
    np.testing.assert_allclose(lrs, even_mults(base / spread, base, n), rtol=1e-12)
    assert lrs[0] == pytest.approx(base / spread) and lrs[-1] == pytest.approx(base)
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, ratios[0])  # geometric


def test_discriminative_lrs_edges_and_errors():
    np.testing.assert_array_equal(discriminative_lrs(1e-3, 4, 1), [1e-3] * 4)
    np.testing.assert_array_equal(discriminative_lrs(1e-3, 1, 100), [1e-3])
    for bad in [(0, 3, 10), (1e-3, 3, 0.5), (1e-3, 0, 10)]:
        with pytest.raises(ValueError, match="base_lr > 0"):
            discriminative_lrs(*bad)


def test_layer_table_of_a_fresh_pretrained_learner(small):
    learn = _learner(small)
    table = layer_table(learn)
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert table["group"].tolist() == NAMES == [g.name for g in layer_groups(learn.model)]
    assert table["n_params"].sum() == sum(p.numel() for p in learn.model.parameters())
    assert table["trainable"].tolist() == [False] * 8 + [True]  # fastai's freeze()
    # Frozen groups still train their BatchNorm layers (train_bn): counted in n_trainable.
    norms = _norm_ids(learn)
    groups = learn.splitter(learn.model)
    for row, group in zip(table.itertuples(), groups, strict=True):
        expect = sum(p.numel() for p in group if row.trainable or id(p) in norms)
        assert row.n_trainable == expect
    assert 0 < table.loc[0, "n_trainable"] < table.loc[0, "n_params"]
    assert table["n_trainable"].sum() == sum(
        p.numel() for p in learn.model.parameters() if p.requires_grad
    )
    np.testing.assert_allclose(table["lr"], learn.lr)
    np.testing.assert_allclose(table["lr_mult"], 1.0)
    preview = layer_table(learn, base_lr=1e-2, lr_spread=100)
    np.testing.assert_allclose(preview["lr"], discriminative_lrs(1e-2, 9, 100))
    assert [h["lr"] for h in learn.opt.hypers] == [learn.lr] * 9  # a preview changes nothing


def _assert_optimizer_matches(learn, table):
    opt = learn.opt
    np.testing.assert_allclose([h["lr"] for h in opt.hypers], table["lr"], rtol=1e-12)
    np.testing.assert_allclose([g["lr"] for g in opt.param_groups], table["lr"], rtol=1e-12)
    norms = _norm_ids(learn)
    for row, group in zip(table.itertuples(), opt.param_lists, strict=True):
        for p in group:
            assert p.requires_grad == (row.trainable or id(p) in norms), row.group
        assert row.n_trainable == sum(p.numel() for p in group if p.requires_grad)


def test_apply_freeze_sets_groups_and_rates_that_survive_create_opt_and_fit(small):
    learn = _learner(small)
    flags = [False] * 6 + [True] * 3  # stage6, stage7, head
    table = apply_freeze(learn, flags, base_lr=1e-3, lr_spread=100)
    assert table["trainable"].tolist() == flags
    np.testing.assert_allclose(table["lr"], discriminative_lrs(1e-3, 9, 100), rtol=1e-12)
    np.testing.assert_allclose(table["lr_mult"], table["lr"] / 1e-3)
    _assert_optimizer_matches(learn, table)
    assert learn.opt.frozen_idx == 6
    fig = plot_layer_table(table)
    ax, rates = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert rates.get_yscale() == "log"
    np.testing.assert_allclose(rates.lines[0].get_ydata(), table["lr"])
    assert f"{table['n_trainable'].sum() / 1e6:.2f}M of" in ax.get_title()
    learn.create_opt()  # a fresh optimizer (fit(..., reset_opt=True)) keeps the table
    _assert_optimizer_matches(learn, table)
    before = {k: v.detach().clone() for k, v in learn.model.named_parameters()}
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)  # no rate given: the table's rates
    _assert_optimizer_matches(learn, table)
    changed = {k for k, v in learn.model.named_parameters() if not torch.equal(v, before[k])}
    assert "conv_stem.weight" not in changed and "blocks.4.0.conv_pw.weight" not in changed
    assert {"blocks.5.0.conv_pw.weight", "conv_head.weight", "classifier.weight"} <= changed
    assert "bn1.weight" in changed  # the stem's BatchNorm trains while the stem is frozen


def test_apply_freeze_by_name_keeps_other_groups_and_rates(small):
    learn = _learner(small)
    apply_freeze(learn, [True] * 9, base_lr=1e-3, lr_spread=10)
    rates = [h["lr"] for h in learn.opt.hypers]
    table = apply_freeze(learn, {"stage3": False, 0: False})
    assert table["trainable"].tolist() == [False, True, True, False] + [True] * 5
    assert [h["lr"] for h in learn.opt.hypers] == rates
    _assert_optimizer_matches(learn, table)
    table = apply_freeze(learn, base_lr=1e-2)  # new head rate, same spread
    np.testing.assert_allclose(table["lr"], np.array(rates) * 10, rtol=1e-12)
    with pytest.raises(ValueError, match="unknown layer group 'stage9'"):
        apply_freeze(learn, {"stage9": True})
    with pytest.raises(ValueError, match="3 flags but the learner has 9 groups"):
        apply_freeze(learn, [True, False, True])


def test_freeze_code_reproduces_the_settings_in_plain_fastai(small):
    learn = _learner(small)
    apply_freeze(learn, [False] * 6 + [True] * 3, base_lr=1e-3, lr_spread=100)
    code = freeze_code(learn, epochs=3)
    assert "learn.freeze_to(6)" in code
    assert "learn.fit_one_cycle(3, slice(1e-05, 0.001))" in code
    apply_freeze(learn, {"stage3": False, "stage6": False})  # not a prefix any more
    code = freeze_code(learn, epochs=0, method="fit", schedule={1: ["stage6"]})
    assert "UnfreezeSchedule({1: ['stage6']})" in code
    fresh = _learner(small)
    assert code.startswith("from cvnb.train import UnfreezeSchedule\n")
    run = code.split("\n", 1)[1].replace(", cbs=[UnfreezeSchedule({1: ['stage6']})]", "")
    with fresh.no_bar(), fresh.no_logging():
        exec(run, {"learn": fresh})  # fit(0, ...) sets the rates, trains nothing
    np.testing.assert_allclose([h["lr"] for h in fresh.opt.hypers], layer_table(learn)["lr"])
    flags = [p.requires_grad for p in learn.model.parameters()]
    assert [p.requires_grad for p in fresh.model.parameters()] == flags
    with pytest.raises(ValueError, match="unknown layer group"):
        freeze_code(learn, schedule={1: ["neck"]})


class _FlagsAtEpochStart(Callback):
    order = UnfreezeSchedule.order + 1

    def before_fit(self):
        self.seen = []

    def before_epoch(self):
        self.seen.append(layer_table(self.learn)["trainable"].tolist())


@pytest.mark.slow
def test_unfreeze_schedule_unfreezes_groups_at_the_given_epoch(small):
    learn = _learner(small)
    schedule = UnfreezeSchedule({1: ["stage7", 6]})
    probe = _FlagsAtEpochStart()
    before = {k: v.detach().clone() for k, v in learn.model.named_parameters()}
    with learn.no_bar(), learn.no_logging():
        learn.fit(2, 1e-3, cbs=[schedule, probe])
    assert probe.seen[0] == [False] * 8 + [True]
    assert probe.seen[1] == [False] * 6 + [True] * 3
    assert schedule.unfrozen == {1: ["stage7", "stage6"]}
    assert learn.opt.frozen_idx == 6
    after = dict(learn.model.named_parameters())
    assert not torch.equal(after["blocks.6.0.conv_pw.weight"], before["blocks.6.0.conv_pw.weight"])
    assert torch.equal(after["blocks.4.0.conv_pw.weight"], before["blocks.4.0.conv_pw.weight"])
    with pytest.raises(ValueError, match="epochs"):
        UnfreezeSchedule({-1: "head"})


@pytest.mark.parametrize(
    ("trainable", "rates"),
    [
        ({"stage7": True, "stage6": True}, {"base_lr": 1e-3, "lr_spread": 10}),
        ([False] * 8 + [True], {}),
        (None, {"base_lr": 3e-4}),
        ([True] * 9, {"lr_spread": 100}),
    ],
)
def test_plan_is_what_apply_gives_and_touches_nothing(small, trainable, rates):
    """plan_freeze is pure; apply_freeze(learn, plan) lands exactly on the plan's table."""
    learn = _learner(small)  # pretrained: frozen, with an optimizer
    flags = [p.requires_grad for p in learn.model.parameters()]
    hypers = [dict(h) for h in learn.opt.hypers]
    plan = plan_freeze(learn, trainable, **rates)
    assert [p.requires_grad for p in learn.model.parameters()] == flags
    assert [dict(h) for h in learn.opt.hypers] == hypers
    code = plan.code(epochs=3)
    applied = apply_freeze(learn, plan)
    pd.testing.assert_frame_equal(applied, plan.table)
    assert freeze_code(learn, epochs=3) == code


def test_a_plan_carries_its_rates(small):
    learn = _learner(small)
    plan = plan_freeze(learn, base_lr=1e-3)
    with pytest.raises(ValueError, match="holds its rates"):
        apply_freeze(learn, plan, base_lr=1e-2)

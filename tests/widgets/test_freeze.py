"""LayerFreezeWidget driven through its traits (no browser), on a real fastai learner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import traitlets
from fastai.torch_core import norm_bias_params

from cvnb.train import make_learner
from cvnb.train._freeze import UnfreezeSchedule, freeze_code, layer_table, plan_freeze
from cvnb.train._rates import discriminative_lrs
from cvnb.train._widget_support import schedule_from_epochs
from cvnb.widgets._freeze import LayerFreezeWidget
from cvnb.widgets._lr_finder import LRFinderWidget

NAMES = ["stem", *(f"stage{i}" for i in range(1, 8)), "head"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(digits_subset):
    keep = digits_subset.groupby(["split", "label"]).cumcount() < 2  # 20 train, 20 valid
    return digits_subset[keep].reset_index(drop=True)


@pytest.fixture
def learn(tiny):
    learner = make_learner(tiny, img_size=32, bs=10)
    # One real optimizer step, so that the optimizer has state a preview must not lose.
    xb, yb = learner.dls.one_batch()
    learner.loss_func(learner.model(xb), yb).backward()
    learner.opt.step()
    learner.opt.zero_grad()
    return learner


def _state(learn):
    opt = learn.opt
    return (
        [p.requires_grad for p in learn.model.parameters()],
        [dict(h) for h in opt.hypers],
        {id(p): dict(s) for p, s in opt.state.items()},
        opt.frozen_idx,
        np.array(learn.lr, dtype=float).tolist(),
    )


def _assert_optimizer_matches(learn, rows):
    norms = {id(p) for p in norm_bias_params(learn.model, with_bias=False)}
    assert len(learn.opt.param_lists) == len(rows)
    for group, hyper, row in zip(learn.opt.param_lists, learn.opt.hypers, rows, strict=True):
        assert hyper["lr"] == pytest.approx(row["lr"], rel=1e-12), row["group"]
        for p in group:
            # Frozen groups keep training their norm layers (fastai's train_bn).
            expected = row["trainable"] or (learn.train_bn and id(p) in norms)
            assert p.requires_grad == expected, row["group"]
        assert sum(p.numel() for p in group if p.requires_grad) == row["n_trainable"]


def test_starts_from_the_learner_state(learn):
    w = LayerFreezeWidget(learn)
    table = layer_table(learn)
    assert w.groups == NAMES
    assert w.trainable == [False] * 8 + [True]  # a pretrained learner starts frozen
    assert [r["group"] for r in w.rows] == NAMES
    assert [r["n_params"] for r in w.rows] == table["n_params"].tolist()
    assert w.n_params == sum(p.numel() for p in learn.model.parameters())
    assert w.n_trainable == sum(p.numel() for p in learn.model.parameters() if p.requires_grad)
    assert w.base_lr == pytest.approx(table["lr"].iloc[-1]) and w.lr_spread == 1.0
    assert w.applied and w.error == ""
    assert w.code == freeze_code(learn, epochs=w.epochs)


def test_toggles_preview_without_touching_the_learner_then_apply_matches(learn):
    before = _state(learn)
    w = LayerFreezeWidget(learn)
    frozen_count = w.n_trainable
    w.trainable = [False] * 6 + [True] * 3  # the browser sends the whole list
    w.lr_spread = 100
    w.base_lr = 2e-3
    assert not w.applied
    assert w.n_trainable > frozen_count + w.rows[6]["n_params"] // 2
    expected = discriminative_lrs(2e-3, 9, 100)
    np.testing.assert_allclose([r["lr"] for r in w.rows], expected)
    assert w.rows[0]["lr_mult"] == pytest.approx(0.01)
    assert _state(learn) == before  # nothing applied yet
    preview = w.table

    w.action = {"kind": "apply"}  # the browser's Apply button
    assert w.applied and w.action == {} and w.error == ""
    _assert_optimizer_matches(learn, w.rows)
    pd.testing.assert_frame_equal(layer_table(learn), preview)
    np.testing.assert_allclose(learn.lr, expected)
    assert w.code == freeze_code(learn, epochs=w.epochs)
    assert "learn.freeze_to(6)" in w.code and "slice(2e-05, 0.002)" in w.code


def test_a_middle_group_can_be_frozen_alone(learn):
    w = LayerFreezeWidget(learn)
    flags = [True] * 9
    flags[3] = False  # stage3 frozen, everything around it trains
    w.trainable = flags
    table = w.apply()
    _assert_optimizer_matches(learn, w.rows)
    assert table["trainable"].tolist() == flags
    assert "stage3" in w.code and "requires_grad_" in w.code


def test_unfreeze_schedule_becomes_a_callback_and_code(learn):
    w = LayerFreezeWidget(learn, unfreeze_at={"stage7": 1, "stage6": 2, "head": 1})
    assert w.schedule == {1: ["stage7"], 2: ["stage6"]}  # head trains already: left out
    [cb] = w.callbacks
    assert isinstance(cb, UnfreezeSchedule) and cb.schedule == w.schedule
    assert "UnfreezeSchedule({1: ['stage7'], 2: ['stage6']})" in w.code
    assert [r["unfreeze_at"] for r in w.rows][-3:] == [2, 1, None]
    w.trainable = [False] * 7 + [True] * 2  # stage7 now trains from the start
    assert w.schedule == {2: ["stage6"]}
    with pytest.raises(traitlets.TraitError, match="unknown layer group 'stage9'"):
        w.unfreeze_at = {"stage9": 1}
    with pytest.raises(traitlets.TraitError, match="integer >= 0"):
        w.unfreeze_at = {"stage6": -1}
    w.unfreeze_at = {}
    assert w.callbacks == [] and "UnfreezeSchedule" not in w.code


@pytest.mark.slow
def test_scheduled_group_unfreezes_during_a_real_fit(learn):
    w = LayerFreezeWidget(learn, lr_spread=10, unfreeze_at={"stage7": 1})
    w.apply()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(2, cbs=w.callbacks)
    assert w.callbacks[0].schedule == {1: ["stage7"]}
    assert layer_table(learn)["trainable"].tolist() == [False] * 7 + [True] * 2
    w.reset()  # the widget catches up with what the fit did
    assert w.trainable == [False] * 7 + [True] * 2 and w.applied


def test_head_rate_follows_the_lr_finder(learn):
    finder = LRFinderWidget(learn)
    w = LayerFreezeWidget(learn, lr_finder=finder, lr_spread=10)
    w.apply()
    finder.apply(4e-3)  # keeps the multipliers the freeze widget set
    assert w.base_lr == 4e-3 and w.applied  # the widget shows what the learner holds
    w.trainable = [False] * 7 + [True] * 2
    w.apply()
    assert learn.opt.hypers[-1]["lr"] == pytest.approx(4e-3)
    assert learn.opt.hypers[0]["lr"] == pytest.approx(4e-4)


def test_reset_drops_unapplied_changes(learn):
    w = LayerFreezeWidget(learn)
    w.trainable = [True] * 9
    w.lr_spread = 10
    w.action = {"kind": "reset"}
    assert w.trainable == [False] * 8 + [True] and w.lr_spread == 1.0 and w.applied


def test_bad_settings_are_refused_with_a_message(learn):
    w = LayerFreezeWidget(learn)
    cases = [
        ("trainable", [True] * 3, "one flag per layer group"),
        ("base_lr", 0.0, "base_lr must be finite and > 0"),
        ("lr_spread", 0.5, "lr_spread must be finite and >= 1"),
        ("epochs", 0, "epochs must be at least 1"),
        ("method", "fit_fast", "method must be one of"),
    ]
    for name, value, message in cases:
        with pytest.raises(traitlets.TraitError, match=message):
            setattr(w, name, value)
    w.action = {"kind": "explode"}
    assert "not one of" in w.error
    w.epochs = 5
    w.method = "fit_flat_cos"
    assert w.error == "" and "learn.fit_flat_cos(5," in w.code


def test_plan_leaves_flags_optimizer_state_and_rates_alone(learn):
    before = _state(learn)
    states = {id(p): s for p, s in learn.opt.state.items()}
    assert any("avg" in k for s in states.values() for k in s)  # Adam moments exist
    plan = plan_freeze(learn, [True] * 9, base_lr=1e-2, lr_spread=10)
    table, code = plan.table, plan.code(schedule={1: ["stage7"]}, epochs=2)
    assert table["trainable"].all() and table["lr"].iloc[-1] == pytest.approx(1e-2)
    assert "learn.unfreeze()" in code and "UnfreezeSchedule" in code
    assert _state(learn) == before
    for p, s in learn.opt.state.items():  # the very tensors, not copies
        assert all(s[k] is states[id(p)][k] for k in s)


def test_plan_creates_no_optimizer(tiny):
    learner = make_learner(tiny, img_size=32, bs=10, pretrained=False)
    assert learner.opt is None
    plan_freeze(learner, [True] * 9, base_lr=1e-3)
    assert learner.opt is None


def test_schedule_from_epochs_orders_and_checks():
    assert schedule_from_epochs({"b": 2, "a": 2, "c": 0}, ["a", "b", "c"], [False] * 3) == {
        0: ["c"],
        2: ["a", "b"],
    }
    assert schedule_from_epochs({"a": 1}, ["a", "b"], [True, False]) == {}
    with pytest.raises(ValueError, match="integer >= 0"):
        schedule_from_epochs({"a": True}, ["a"], [False])

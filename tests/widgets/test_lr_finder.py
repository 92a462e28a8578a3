"""LRFinderWidget driven through its traits (no browser), on a real fastai learner."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import traitlets
from PIL import Image

from cvnb.train import make_learner
from cvnb.train._doctor import smooth_losses
from cvnb.train._freeze import apply_freeze, layer_table
from cvnb.train._lr_curve import SUGGESTION_METHODS, assess_lr_curve
from cvnb.widgets._lr_finder import LRFinderWidget, _render

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NUM_IT = 12  # enough for a curve; the noise check rightly calls it too short


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(digits_subset):
    keep = digits_subset.groupby(["split", "label"]).cumcount() < 4  # 40 train, 40 valid
    return digits_subset[keep].reset_index(drop=True)


def _snapshot(learn):
    return (
        {k: v.detach().clone() for k, v in learn.model.state_dict().items()},
        [p.requires_grad for p in learn.model.parameters()],
        [dict(h) for h in learn.opt.hypers],
        [m.training for m in learn.model.modules()],
    )


@pytest.fixture(scope="module")
def ran(tiny):
    """A learner with a discriminative spread, and a widget whose Run button was pressed."""
    learn = make_learner(tiny, img_size=32, bs=8)
    apply_freeze(learn, base_lr=1e-3, lr_spread=10)
    before = _snapshot(learn)
    widget = LRFinderWidget(learn, num_it=NUM_IT)
    seen = []
    widget.observe(lambda c: seen.append(c["new"]), names="progress")
    widget.action = {"kind": "run"}  # what the browser's button sends
    return learn, widget, before, seen


def test_run_fills_the_curve_suggestions_and_plot(ran):
    _, w, _, seen = ran
    assert w.error == ""
    assert w.status == "done" and w.action == {}
    assert 6 <= len(w.lrs) <= NUM_IT and len(w.losses) == len(w.lrs)
    assert w.lrs == sorted(w.lrs) and w.lrs[0] >= w.start_lr
    assert set(w.suggestions) == set(SUGGESTION_METHODS)
    assert w.recommended_by in SUGGESTION_METHODS
    assert w.chosen_lr == w.recommended == w.suggestions[w.recommended_by] > 0
    assert w.result is not None and w.result.recommended == pytest.approx(w.recommended)
    # Progress was reported batch by batch while the test ran, ending at 1.
    assert len(seen) >= 6 and seen == sorted(seen) and w.progress == 1.0
    assert w.plot_png.startswith(PNG_MAGIC)
    assert Image.open(io.BytesIO(w.plot_png)).size == (700, 400)
    f = w.plot_frame
    assert 0 < f["x0"] < f["x1"] < 1 and 0 < f["y0"] < f["y1"] < 1
    shown = np.log10(w.lrs[: len(w.lrs) - 5])  # the plot leaves out the last 5, as fastai's
    assert f["log_lr_min"] <= shown[0] < shown[-1] <= f["log_lr_max"]


def test_short_test_is_flagged_noisy_with_the_reason(ran):
    _, w, _, _ = ran
    assert w.noisy
    assert f"only {NUM_IT} iterations" in w.noise_reason


def test_range_test_leaves_weights_optimizer_and_flags_unchanged(ran):
    learn, _, (weights, flags, hypers, modes), _ = ran
    for key, value in learn.model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert [p.requires_grad for p in learn.model.parameters()] == flags
    assert [dict(h) for h in learn.opt.hypers] == hypers
    assert [m.training for m in learn.model.modules()] == modes


def test_apply_sets_the_head_rate_and_keeps_the_multipliers(ran):
    learn, w, _, _ = ran
    mults = layer_table(learn)["lr_mult"].to_numpy()
    w.chosen_lr = 2e-3
    w.action = {"kind": "apply"}
    assert w.error == "" and w.applied_lr == 2e-3
    rates = np.array([h["lr"] for h in learn.opt.hypers])
    np.testing.assert_allclose(rates, 2e-3 * mults)
    np.testing.assert_allclose(learn.lr, rates)
    assert rates[0] == pytest.approx(2e-4)  # the spread of 10 survived
    table = w.apply(5e-4)  # a rate given in code becomes the chosen one
    assert w.chosen_lr == w.applied_lr == 5e-4
    assert table["lr"].iloc[-1] == pytest.approx(5e-4)


def test_pick_a_suggestion_and_plot_marks_the_choice(ran):
    _, w, _, _ = ran
    name = next(k for k, v in w.suggestions.items() if v is not None)
    assert w.pick(name) == w.suggestions[name] == w.chosen_lr
    fig = w.plot()
    assert any(f"chosen {w.chosen_lr:.1e}" in t.get_text() for t in fig.axes[0].get_legend().texts)
    with pytest.raises(ValueError, match="method must be one of"):
        w.pick("fastest")


def test_bad_inputs_raise_or_land_in_error(tiny):
    learn = make_learner(tiny, img_size=32, bs=8)
    w = LRFinderWidget(learn)
    assert w.status == "not run" and w.plot_png == b"" and w.chosen_lr == 0
    with pytest.raises(ValueError, match="no rate chosen"):
        w.apply()
    with pytest.raises(ValueError, match="run\\(\\) the range test"):
        w.plot()
    for name, bad in [("chosen_lr", -1e-3), ("chosen_lr", float("nan")), ("start_lr", 0.0)]:
        with pytest.raises(traitlets.TraitError, match=name):
            setattr(w, name, bad)
    with pytest.raises(traitlets.TraitError, match="at least 6"):
        w.num_it = 3
    w.start_lr, w.end_lr = 1.0, 0.1
    w.action = {"kind": "run"}  # from the browser: the message shows, nothing raises
    assert "start_lr (1) must be below end_lr" in w.error and w.action == {}
    w.action = {"kind": "explode"}
    assert "not one of" in w.error


def _synthetic():
    lrs = np.logspace(-7, 1, 100)
    x = np.log10(lrs)
    rng = np.random.default_rng(0)
    trend = 0.6 + 1.7 / (1 + np.exp(2.5 * (x + 3))) + np.exp(3 * (x + 0.5))
    return assess_lr_curve(lrs, smooth_losses(trend + rng.normal(0, 0.02, 100)))


def test_a_finished_result_is_shown_without_running(tiny):
    learn = make_learner(tiny, img_size=32, bs=8)
    result = _synthetic()
    w = LRFinderWidget(learn, result=result)
    assert w.status == "done" and not w.noisy and w.noise_reason == ""
    assert w.lrs == pytest.approx(result.lrs.tolist())
    assert w.chosen_lr == pytest.approx(result.recommended)
    assert w.plot_png.startswith(PNG_MAGIC)


def test_plot_frame_maps_a_rate_to_its_pixel_column():
    # The browser draws the chosen-rate marker from plot_frame; check that mapping against
    # matplotlib's own line drawn at that rate (pure red, spanning the axes' height).
    result = _synthetic()
    _, frame = _render(result)
    for lr in (1e-5, 0.5):
        fig = result.plot(chosen=lr)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        pixels = np.asarray(Image.open(buffer).convert("RGB")).astype(int)
        red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
        column = int(np.argmax(red.sum(axis=0)))
        t = (np.log10(lr) - frame["log_lr_min"]) / (frame["log_lr_max"] - frame["log_lr_min"])
        expected = (frame["x0"] + t * (frame["x1"] - frame["x0"])) * pixels.shape[1]
        assert abs(column - expected) <= 2, (lr, column, expected)
        rows = np.flatnonzero(red[:, column])
        top, bottom = frame["y0"] * pixels.shape[0], frame["y1"] * pixels.shape[0]
        assert abs(rows.min() - top) <= 3 and abs(rows.max() - bottom) <= 3

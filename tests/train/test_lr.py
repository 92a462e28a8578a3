"""find_lr: fastai's range test with all suggestions, a noise check, and nothing left changed."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from fastai.callback.schedule import minimum, steep, valley
from matplotlib.figure import Figure

from cvnb.train import LRFinderResult, find_lr, make_learner, preserved_learner
from cvnb.train._doctor import smooth_losses
from cvnb.train._lr_curve import SUGGESTION_METHODS, NoiseRule, assess_lr_curve

LRS = np.logspace(-7, 1, 100)


def _curve(noise: float, *, floor: float = 0.6, seed: int = 0, n: int = 100) -> np.ndarray:
    """Smoothed range-test losses: flat, a descent between 1e-4 and 1e-2, then divergence."""
    rng = np.random.default_rng(seed)
    x = np.log10(LRS[:n])
    trend = floor + (2.3 - floor) / (1 + np.exp(2.5 * (x + 3))) + np.exp(3 * (x + 0.5))
    return smooth_losses(trend + rng.normal(0, noise, n))


def test_clean_curve_is_trusted_and_valley_sits_on_the_descent():
    result = assess_lr_curve(LRS, _curve(0.02))
    assert set(result.suggestions) == set(SUGGESTION_METHODS)
    assert not result.noisy and result.noise_reason == ""
    assert result.recommended_by == "valley"
    assert result.recommended == result.suggestions["valley"]
    assert 1e-4 < result.recommended < 1e-2, result
    assert result.checks["drop"] > 0.3 and result.checks["bumpiness"] < 0.1


def test_suggestions_are_fastais_on_its_window():
    losses = _curve(0.02)
    result = assess_lr_curve(LRS, losses)
    window = torch.tensor(LRS[10:95]), torch.tensor(losses[10:95])  # [num_it // 10 : -5]
    for func in (minimum, steep, valley):
        assert result.suggestions[func.__name__] == pytest.approx(func(*window, 100)[0])
    assert result.window == (10, 94)


def test_batch_noise_as_large_as_the_descent_is_flagged():
    result = assess_lr_curve(LRS, _curve(1.5))
    assert result.noisy
    assert "rose by" in result.noise_reason or "disagree" in result.noise_reason
    assert result.checks["bumpiness"] > NoiseRule().max_bumpiness


def test_flat_curve_has_no_descending_region():
    flat = _curve(0.02, floor=2.3)  # the trend never descends, only diverges at the end
    result = assess_lr_curve(LRS, flat)
    assert result.noisy
    assert "no clear descending region" in result.noise_reason
    assert result.checks["drop"] < NoiseRule().min_drop


def test_too_few_iterations_and_early_divergence_are_flagged():
    short = assess_lr_curve(LRS[::6], _curve(0.02)[::6])  # 17 iterations
    assert short.noisy and "only 17 iterations" in short.noise_reason
    stopped = assess_lr_curve(LRS[:25], _curve(0.02)[:25], num_it=100)
    assert stopped.stopped_early
    assert stopped.noisy and "diverged after only 25 of 100" in stopped.noise_reason
    nan = _curve(0.02)
    nan[25:] = np.nan  # fastai's stop_div never fires on NaN: the run goes on
    broken = assess_lr_curve(LRS, nan)
    assert broken.noisy and "became NaN at iteration 25" in broken.noise_reason
    assert broken.window == (10, 24)


def test_disagreement_rule_is_a_parameter():
    losses = _curve(0.02)
    spread = assess_lr_curve(LRS, losses).checks["spread_decades"]
    assert 0 < spread < NoiseRule().max_spread_decades
    strict = assess_lr_curve(LRS, losses, rule=NoiseRule(max_spread_decades=spread / 2))
    assert strict.noisy and "disagree" in strict.noise_reason


def test_recommend_other_method_and_bad_arguments():
    result = assess_lr_curve(LRS, _curve(0.02), recommend="slide")
    assert result.recommended_by == "slide" and result.recommended == result.suggestions["slide"]
    with pytest.raises(ValueError, match="recommend must be one of"):
        assess_lr_curve(LRS, _curve(0.02), recommend="fastest")
    with pytest.raises(ValueError, match="equally long"):
        assess_lr_curve(LRS, _curve(0.02)[:50])


def test_plot_marks_each_suggestion_and_the_choice():
    result = assess_lr_curve(LRS, _curve(0.02), raw_losses=_curve(0.02))
    fig = result.plot(chosen=3e-3)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for name in SUGGESTION_METHODS:
        assert any(label.startswith(name) for label in labels), labels
    assert any("recommended" in label for label in labels)
    assert "chosen 3.0e-03" in labels
    assert ax.get_xscale() == "log"
    fig2 = Figure()
    ax2 = fig2.subplots()
    assert result.plot(ax=ax2) is fig2
    noisy = assess_lr_curve(LRS, _curve(1.5))
    assert "too noisy" in noisy.plot().axes[0].get_title()
    assert "Too noisy" in noisy._repr_html_() and "valley" in result._repr_html_()


# --- on a real learner -------------------------------------------------------------------


@pytest.fixture(scope="module")
def learn(digits_subset, tmp_path_factory):
    """A frozen pretrained learner with real optimizer state (one epoch trained)."""
    keep = digits_subset.groupby(["split", "label"]).cumcount() < 8  # 80 train, 80 valid
    path = tmp_path_factory.mktemp("lr-learner")
    learn = make_learner(digits_subset[keep], img_size=32, bs=16, path=path)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)
    # Per-group rates that fastai's lr_find would overwrite with learn.lr.
    learn.opt.set_hyper("lr", slice(1e-5, 1e-3))
    return learn


def _state(learn) -> dict:
    opt = learn.opt
    return {
        "weights": {k: v.clone() for k, v in learn.model.state_dict().items()},
        "requires_grad": [p.requires_grad for p in learn.model.parameters()],
        "opt": opt,
        "opt_state": [copy.deepcopy(opt.state[p]) for p, *_ in opt.all_params()],
        "hypers": copy.deepcopy([dict(h) for h in opt.hypers]),
        "values": copy.deepcopy(learn.recorder.values),
        "losses": [float(x) for x in learn.recorder.losses],
        "modes": [m.training for m in learn.model.modules()],
        "cbs": [type(cb) for cb in learn.cbs],
        "rng": torch.get_rng_state(),
    }


def _assert_same(a: dict, b: dict) -> None:
    assert a["weights"].keys() == b["weights"].keys()
    for k in a["weights"]:
        assert torch.equal(a["weights"][k], b["weights"][k]), k
    assert a["requires_grad"] == b["requires_grad"]
    assert b["opt"] is a["opt"]
    for sa, sb in zip(a["opt_state"], b["opt_state"], strict=True):
        assert sa.keys() == sb.keys()
        for k in sa:
            same = torch.equal(sa[k], sb[k]) if torch.is_tensor(sa[k]) else sa[k] == sb[k]
            assert same, k
    assert a["hypers"] == b["hypers"]
    assert a["values"] == b["values"] and a["losses"] == b["losses"]
    assert a["modes"] == b["modes"] and a["cbs"] == b["cbs"]
    assert torch.equal(a["rng"], b["rng"])


@pytest.mark.slow
def test_find_lr_restores_weights_optimizer_and_frozen_state(learn):
    before = _state(learn)
    assert any(s.get("grad_avg") is not None for s in before["opt_state"])  # real Adam state
    assert not all(before["requires_grad"])  # frozen body, trainable head and norms
    result = find_lr(learn, num_it=30, progress=False)
    _assert_same(before, _state(learn))
    assert not (learn.path / "models").exists()  # fastai's checkpoint went to a temp folder
    assert isinstance(result, LRFinderResult)
    assert 20 <= len(result.lrs) <= 30 and np.all(np.diff(result.lrs) > 0)
    assert result.lrs[0] == pytest.approx(1e-7)
    assert set(result.suggestions) == set(SUGGESTION_METHODS)
    assert np.isfinite(result.recommended)
    # The recorder's smoothed curve is fastai's EMA of the raw batch losses we record.
    np.testing.assert_allclose(result.losses, smooth_losses(result.raw_losses), rtol=1e-5)


@pytest.mark.slow
def test_find_lr_is_seeded_and_is_fastais_lr_find(learn):
    a = find_lr(learn, num_it=8, seed=0, progress=False)
    b = find_lr(learn, num_it=8, seed=0, progress=False)
    c = find_lr(learn, num_it=8, seed=1, progress=False)
    np.testing.assert_array_equal(a.raw_losses, b.raw_losses)
    assert not np.array_equal(a.raw_losses, c.raw_losses)
    # fastai's own lr_find from the same state and seed records the same curve and suggests
    # the same rates.
    with preserved_learner(learn, seed=0), learn.no_bar():
        learn.model_dir = learn.path / "tmp-models"
        fastai = learn.lr_find(num_it=8, show_plot=False, suggest_funcs=(minimum, steep, valley))
        recorded = np.array([float(x) for x in learn.recorder.losses])
    np.testing.assert_allclose(a.losses, recorded, rtol=1e-6)
    for name, value in fastai._asdict().items():
        assert a.suggestions[name] == pytest.approx(value)


@pytest.mark.slow
def test_find_lr_leaves_a_learner_without_optimizer_without_one(digits_subset, tmp_path):
    keep = digits_subset.groupby(["split", "label"]).cumcount() < 4
    learn = make_learner(digits_subset[keep], img_size=32, bs=8, pretrained=False, path=tmp_path)
    assert learn.opt is None and learn.lr == 1e-3
    weights = {k: v.clone() for k, v in learn.model.state_dict().items()}
    result = find_lr(learn, num_it=6, progress=False)
    assert learn.opt is None  # fastai would leave a fresh optimizer behind
    assert all(torch.equal(v, learn.model.state_dict()[k]) for k, v in weights.items())
    assert len(result.lrs) == 6 and result.noisy and "only 6 iterations" in result.noise_reason

"""fit: schedules, frozen epochs with discriminative rates, early stopping, save-best, probe."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback
from fastai.metrics import ValueMetric, accuracy

from cvnb.train import PROBE_LR, SCHEDULES, FitResult, fit, fit_probe_head, history, make_learner
from cvnb.train._lr_curve import SUGGESTION_METHODS
from cvnb.train._select import HoldoutCheck, holdout_split


def _learner(df, **kwargs):
    return make_learner(df, img_size=32, bs=16, seed=0, **kwargs)


@pytest.fixture(scope="module")
def tiny(digits_subset):
    """5 images per class and split: enough to exercise the loop, quick to train."""
    return digits_subset[digits_subset.groupby(["split", "label"]).cumcount() < 5]


def _scripted_metric(values):
    """A real fastai metric whose per-epoch values are given, to steer the trackers exactly."""
    it = iter(values)
    return ValueMetric(lambda: next(it), "scripted")


class _Snapshots(Callback):
    order = 59  # before SaveBest (61) loads the best weights at the end

    def __init__(self):
        self.states = []

    def after_epoch(self):
        self.states.append({k: v.clone() for k, v in self.learn.model.state_dict().items()})


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_each_schedule_trains_one_epoch(tiny, schedule):
    learn = _learner(tiny)
    # flat_cos also runs with the live plot (fastai's ShowGraphCallback; a no-op off-notebook)
    # and anneals from 30 % of the epoch (its default, 75 %, is past this epoch's last batch).
    shown = {"progress": False}
    if schedule == "flat_cos":
        shown = {"live_plot": True, "progress": True, "schedule_kwargs": {"pct_start": 0.3}}
    res = fit(learn, 1, 1e-3, schedule=schedule, head_init="none", **shown)
    assert isinstance(res, FitResult)
    h = res.history
    assert list(h.columns) == [
        "epoch",
        "phase",
        "train_loss",
        "valid_loss",
        "accuracy",
        "balanced_accuracy",
        "lr",
        "time_s",
    ]
    assert len(h) == 1 and h.phase.tolist() == ["all"]
    assert np.isfinite(h[["train_loss", "valid_loss", "accuracy"]].to_numpy()).all()
    assert res.lr == 1e-3 and res.lr_source == "given" and res.best_epoch == 0
    assert all(p.requires_grad for p in learn.model.parameters())  # every layer trained
    # one_cycle and flat_cos anneal the rate within the epoch; plateau keeps it (one epoch).
    assert (h.lr.iloc[-1] < 1e-3) == (schedule != "plateau"), h.lr.iloc[-1]


def test_plateau_reduces_the_rate(tiny):
    # The scripted metric never improves after epoch 0, so the rate is divided each epoch.
    learn = _learner(tiny, metrics=[accuracy, _scripted_metric([0.5, 0.4, 0.3])])
    res = fit(
        learn, 3, 1e-3, schedule="plateau", monitor="scripted", head_init="none",
        schedule_kwargs={"patience": 1, "factor": 10}, progress=False,
    )  # fmt: skip
    # lr is the rate each epoch trained at: divided after epochs 1 and 2.
    assert res.history.lr.tolist() == pytest.approx([1e-3, 1e-3, 1e-4])
    assert len(res.events) == 2 and "plateau, lr 1e-05" in res.events[1]


def test_frozen_epoch_then_discriminative_rates(tiny):
    learn = _learner(tiny)
    res = fit(learn, 2, 1e-2, freeze_epochs=1, lr_spread=100, head_init="none", progress=False)
    assert res.history.phase.tolist() == ["frozen", "all"]
    lrs = np.array([h["lr"] for h in learn.opt.hypers])
    assert len(lrs) == 9
    assert lrs[-1] / lrs[0] == pytest.approx(100)  # stem gets lr / spread, head lr
    assert np.all(np.diff(np.log(lrs)) == pytest.approx(np.log(100) / 8))  # geometric
    assert all(p.requires_grad for p in learn.model.parameters())


def test_early_stopping_stops(tiny):
    learn = _learner(tiny, metrics=[_scripted_metric([0.5, 0.5, 0.5, 0.5, 0.5])])
    res = fit(
        learn, 5, 1e-3, early_stopping=2, monitor="scripted", head_init="none", progress=False
    )
    assert res.stopped_early and len(res.history) == 3  # best at 0, no better at 1 and 2
    assert "early stop" in res.events[-1]


def test_save_best_reloads_the_best_epoch(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    learn = _learner(tiny, metrics=[_scripted_metric([0.9, 0.1, 0.2])])
    snaps = _Snapshots()
    learn.add_cb(snaps)
    res = fit(
        learn, 3, 1e-3, save_best=True, monitor="scripted", out=tmp_path / "run",
        head_init="none", progress=False,
    )  # fmt: skip
    learn.remove_cb(snaps)
    assert res.best_epoch == 0 and res.best_value == pytest.approx(0.9)
    assert res.best_path == tmp_path / "run" / "best.pth" and res.best_path.is_file()
    final = learn.model.state_dict()
    assert all(torch.equal(final[k], v) for k, v in snaps.states[0].items())
    assert not all(torch.equal(final[k], v) for k, v in snaps.states[-1].items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing written elsewhere


def test_probe_head_matches_the_learner(digits_subset):
    learn = _learner(digits_subset)
    probe = fit_probe_head(learn, progress=False)
    with learn.no_bar(), learn.no_logging():
        acc = learn.validate()[1]
    # The logistic regression's weights, standardization folded in, are the head's now.
    assert float(acc) == pytest.approx(probe.accuracy, abs=0.011)
    assert probe.accuracy > 0.5 and probe.n_features == 1280  # chance is 0.1
    assert probe.train_accuracy >= probe.accuracy and probe.temperature >= 1


def test_default_recipe_probes_then_trains_all_keeping_bn_stats(tiny):
    learn = _learner(tiny)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    res = fit(learn, 1, progress=False, holdout=0)
    assert res.probe_accuracy is not None and res.probe_accuracy > 0.2  # chance: 0.1
    assert (res.lr, res.lr_source) == (PROBE_LR, "PROBE_LR")
    assert res.kept == "fine-tuned" and res.holdout is None and "holdout=0" in res.kept_reason
    assert res.history.phase.tolist() == ["all"]
    after = learn.model.state_dict()
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)  # kept
    assert not torch.equal(before["bn1.weight"], after["bn1.weight"])  # BN scale trains
    assert not torch.equal(before["conv_stem.weight"], after["conv_stem.weight"])


@pytest.mark.slow
def test_without_probe_the_lr_finder_chooses(tiny):
    learn = _learner(tiny)
    res = fit(learn, 1, head_init="none", freeze_epochs=1, progress=False)
    # lr_source names the finder's method, as FitResult documents ("find_lr: valley").
    method = res.lr_source.removeprefix("find_lr: ")
    assert res.lr_source.startswith("find_lr: ") and method in SUGGESTION_METHODS
    assert 1e-6 < res.lr < 1
    assert res.history.phase.tolist() == ["frozen"]


def test_bn_stats_update_is_fastai_default(tiny):
    learn = _learner(tiny)
    before = learn.model.bn1.running_mean.clone()
    fit(learn, 1, 1e-3, head_init="probe", bn_stats="update", holdout=0, progress=False)
    assert not torch.equal(before, learn.model.bn1.running_mean)


def test_bad_arguments_raise(tiny):
    learn = _learner(tiny)
    for kwargs, message in [
        ({"schedule": "cosine"}, "schedule must be one of"),
        ({"freeze_epochs": 3}, "freeze_epochs must be between"),
        ({"monitor": "f1"}, "monitor must be one of"),
        ({"live_plot": True, "progress": False}, "live_plot"),
        ({"head_init": "random"}, "head_init must be one of"),
        ({"bn_stats": "freeze"}, "bn_stats must be one of"),
        ({"lr_spread": 0.5}, "lr_spread must be >= 1"),
        ({"early_stopping": 0}, "early_stopping is a patience"),
        ({"holdout": 1.0}, "holdout is a fraction"),
    ]:
        with pytest.raises(ValueError, match=message):
            fit(learn, 2, 1e-3, **{"progress": False, **kwargs})


def test_fit_never_ends_below_its_probe(tiny):
    """Fine-tuning that loses to the probe on held-back training images is undone."""
    learn = _learner(tiny)
    res = fit(learn, 1, 0.5, lr_spread=1, progress=False, seed=0)  # a rate that wrecks it
    check = res.holdout
    assert check["n"] == 10 and check["fine_tuned_accuracy"] <= check["probe_accuracy"]
    assert res.kept == "probe" and "did not clearly beat the linear probe" in res.kept_reason
    assert res.valid_accuracy == pytest.approx(res.probe_accuracy)
    # The learner holds the pretrained backbone with the probe head again.
    pristine = _learner(tiny)
    after = learn.model.state_dict()
    body = [k for k in after if not k.startswith("classifier.")]
    assert all(torch.equal(after[k], pristine.model.state_dict()[k]) for k in body)
    with learn.no_bar(), learn.no_logging():
        valid = learn.validate()
    assert float(valid[1]) == pytest.approx(res.valid_accuracy, abs=1e-6)
    assert float(valid[2]) == pytest.approx(res.valid_balanced_accuracy, abs=1e-6)
    assert len(learn.dls.train.items) == (tiny.split == "train").sum()  # full set back


def test_holdout_split_is_stratified_and_spares_tiny_classes():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 2 + [3])
    fit_pos, held = holdout_split(labels, 0.2, seed=0)
    assert sorted([*fit_pos, *held]) == list(range(len(labels)))
    assert np.bincount(labels[held], minlength=4).tolist() == [2, 1, 0, 0]
    assert holdout_split(labels, 0.2, seed=0)[1].tolist() == held.tolist()  # seeded


def test_holdout_on_a_large_set_holds_back_at_most_about_150_images():
    labels = np.repeat(np.arange(10), 144)  # digits-sized: 1,440 training images
    _, held = holdout_split(labels, 0.2, seed=0)
    assert 140 <= len(held) <= 160  # not 288: a large set keeps its images for training
    assert np.bincount(labels[held]).min() >= 14  # still stratified
    small = np.repeat(np.arange(5), 70)  # flowers-sized: the full 20 %
    assert len(holdout_split(small, 0.2, seed=0)[1]) == 70


def test_fine_tuning_must_win_clearly_on_the_images_they_disagree_on():
    truth = np.zeros(15, dtype=int)
    check = HoldoutCheck(15, 0.6, 0.6)
    # 10 right against the probe's 9 on 15 images: one image, which chance gives easily
    probe = np.r_[np.zeros(9), np.ones(6)].astype(int)
    fine_tuned = np.r_[np.ones(2), np.zeros(10), np.ones(3)].astype(int)
    check.compare(truth, probe, fine_tuned)
    assert (check.fine_tuned_only, check.probe_only) == (3, 2)
    assert check.fine_tuned_accuracy == pytest.approx(10 / 15)
    assert check.p_value == pytest.approx(0.5)
    assert not check.fine_tuning_wins
    # 12 of 13 disagreements go to fine-tuning: p = 14 / 8192, a clear win
    clear = HoldoutCheck(150, 0.9, 0.9, fine_tuned_only=12, probe_only=1)
    assert clear.p_value == pytest.approx(14 / 2**13)
    assert clear.fine_tuning_wins
    tie = HoldoutCheck(10, 0.8, 0.7, fine_tuned_only=0, probe_only=0)
    assert tie.p_value == 1.0 and not tie.fine_tuning_wins
    assert clear.to_dict()["p_value"] == round(14 / 2**13, 4)


def test_history_names_the_recorder_columns(tiny):
    learn = _learner(tiny)
    with pytest.raises(ValueError, match="no recorded epoch"):
        history(learn)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(2, 1e-3)
    table = history(learn)
    assert list(table.columns) == [
        "epoch", "train_loss", "valid_loss", "accuracy", "balanced_accuracy"
    ]  # fmt: skip
    assert table.epoch.tolist() == [0, 1]
    assert table.valid_loss.tolist() == [v[1] for v in learn.recorder.values]


def test_balance_weighs_the_loss_while_training_only(tiny):
    unbalanced = tiny[~((tiny.split == "train") & (tiny.label == "0") & (tiny.index % 5 > 0))]
    learn = _learner(unbalanced)
    res = fit(learn, 1, progress=False, balance=True, holdout=0)
    assert learn.loss_func.func.weight is None  # put back after training
    assert np.isfinite(res.history.balanced_accuracy).all() and res.kept == "fine-tuned"


def test_fit_resets_a_temperature_fitted_to_the_old_weights(tiny):
    learn = _learner(tiny)
    learn.cvnb_config.temperature = 2.5  # as cvnb.evaluate.fit_temperature would store it
    fit(learn, 1, 1e-3, head_init="none", progress=False)
    assert learn.cvnb_config.temperature == 1.0

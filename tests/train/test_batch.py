"""find_batch_size and accumulate_to on real digit scans, with fastai's own training loop."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.optimizer import SGD
from torch import nn

from cvnb.train import accumulate_to, find_batch_size, make_learner
from cvnb.train._batch import _extrapolate

PHYSICAL, EFFECTIVE = 8, 32


@pytest.fixture(scope="module")
def learn(digits_subset):
    # 64 px: activations (≈10 MiB per image here) dominate the fixed optimizer-state cost.
    learn = make_learner(digits_subset, img_size=64, bs=16, seed=0)
    learn.unfreeze()
    return learn


@pytest.fixture(scope="module")
def sweep(learn):
    learn.model.eval()
    before = {
        "state": {k: v.clone() for k, v in learn.model.state_dict().items()},
        "rng": torch.get_rng_state(),
        "opt": learn.opt,
    }
    res = find_batch_size(learn, max_bs=32, min_bs=3, repeats=1, progress=False)
    return res, before


def test_find_batch_size_measures_powers_of_two(sweep):
    res, _ = sweep
    assert list(res.table.bs) == [4, 8, 16, 32]
    assert res.table.fits.all() and res.table.measured.all()  # default budget: GBs
    assert res.largest == 32 and res.fastest in {4, 8, 16, 32}
    assert (res.table.img_per_s > 0).all()
    peaks = res.table.peak_mem_mb.to_numpy()
    # Activations grow with the batch: 32 images need far more than 4.
    assert peaks[-1] > 2 * peaks[0] > 0, peaks
    assert "bs=32" in res.advice and res.device == "cpu"
    res.plot()


def test_find_batch_size_restores_the_learner(learn, sweep):
    _, before = sweep
    after = learn.model.state_dict()
    assert all(torch.equal(before["state"][k], after[k]) for k in after)  # BN stats included
    assert not learn.model.training and learn.opt is before["opt"]
    assert all(p.grad is None for p in learn.model.parameters())
    assert torch.equal(torch.get_rng_state(), before["rng"])
    assert learn.dls.train.bs == 16


def test_budget_stops_at_the_first_size_over_it(learn, sweep):
    full, _ = sweep
    peak = full.table.set_index("bs").peak_mem_mb
    budget = float(peak[8] + peak[16]) / 2  # room for bs 8, not for 16 (peaks vary ±15 MiB)
    res = find_batch_size(learn, max_bs=32, min_bs=4, memory_budget=budget, progress=False)
    assert res.largest == 8 and res.budget_mb == budget
    last = res.table.iloc[-1]
    assert last.bs == 16 and not last.fits and last.peak_mem_mb > budget
    assert len(res.table) == 3  # 32 is not tried
    assert res.table.measured.iloc[:2].all()  # bs 16 may be run or, if predicted over, not


def test_extrapolation_is_linear_in_the_batch():
    rows = [{"bs": 4, "peak_mem_mb": 50.0, "measured": True}]
    assert _extrapolate(rows, 8) is None  # one point gives no slope
    rows.append({"bs": 8, "peak_mem_mb": 90.0, "measured": True})
    assert _extrapolate(rows, 16) == pytest.approx(170.0)


def test_find_batch_size_rejects_bad_range(learn):
    with pytest.raises(ValueError, match="min_bs <= max_bs"):
        find_batch_size(learn, min_bs=64, max_bs=8)


def test_batch_of_one_that_batchnorm_cannot_train_says_what_to_do(digits_subset):
    # At 32 px Lite0's last feature map is 1x1: one image gives BatchNorm one value per channel.
    learn = make_learner(digits_subset, img_size=32, bs=8, seed=0)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with pytest.raises(ValueError, match="min_bs=2"):
        find_batch_size(learn, min_bs=1, max_bs=4, progress=False)
    after = learn.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after)
    res = find_batch_size(learn, max_bs=4, repeats=1, progress=False)  # default min_bs=2
    assert list(res.table.bs) == [2, 4] and res.largest == 4


class _GradsAtStep(Callback):
    """Records the gradients at the first optimizer step, then stops before the step."""

    order = 50  # after GradientAccumulation (order 6), which cancels the skipped steps

    def before_step(self):
        self.grads = [p.grad.detach().clone() for p in self.learn.model.parameters()]
        raise CancelFitException()


class _BatchNormEval(Callback):
    order = 50  # after TrainEvalCallback puts the model in train mode

    def before_batch(self):
        for m in self.learn.model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()


def _small_net(batchnorm: bool) -> nn.Module:
    torch.manual_seed(0)
    norm = [nn.BatchNorm2d(8)] if batchnorm else []
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2), *norm, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(8, 10),
    )  # fmt: skip


def _grads(digits_subset, batchnorm: bool, accumulate: bool, bn_eval: bool = False):
    dls = make_learner(digits_subset, img_size=16, bs=PHYSICAL if accumulate else EFFECTIVE).dls
    dls.train.shuffle = False  # the same first 32 images either way
    learn = Learner(dls, _small_net(batchnorm), loss_func=CrossEntropyLossFlat(), opt_func=SGD)
    if accumulate:
        plan = accumulate_to(learn, EFFECTIVE)
        assert (plan.n_acc, plan.steps_per_update, plan.effective_bs) == (32, 4, 32)
    grab = _GradsAtStep()
    cbs = [grab, _BatchNormEval()] if bn_eval else [grab]
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 0.1, cbs=cbs)
    return grab.grads


def _max_rel_diff(a, b) -> float:
    return max(float((x - y).abs().max() / y.abs().max()) for x, y in zip(a, b, strict=True))


def test_accumulation_gives_the_large_batch_gradient(digits_subset):
    big = _grads(digits_subset, batchnorm=False, accumulate=False)
    acc = _grads(digits_subset, batchnorm=False, accumulate=True)
    for a, b in zip(acc, big, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_batchnorm_breaks_the_equivalence_unless_frozen(digits_subset):
    # In train mode BatchNorm normalizes each physical batch of 8 with its own statistics,
    # so four small batches are not one batch of 32: the gradients differ.
    big = _grads(digits_subset, batchnorm=True, accumulate=False)
    acc = _grads(digits_subset, batchnorm=True, accumulate=True)
    assert _max_rel_diff(acc, big) > 1e-3
    # With BatchNorm in eval mode (fixed running statistics) each image is independent again.
    big = _grads(digits_subset, batchnorm=True, accumulate=False, bn_eval=True)
    acc = _grads(digits_subset, batchnorm=True, accumulate=True, bn_eval=True)
    assert _max_rel_diff(acc, big) < 1e-4


def test_accumulate_to_replaces_and_advises(learn):
    from fastai.callback.training import GradientAccumulation

    accumulate_to(learn, 64)
    plan = accumulate_to(learn, 128, lr=1e-3)
    assert [cb.n_acc for cb in learn.cbs if isinstance(cb, GradientAccumulation)] == [128]
    assert plan.steps_per_update == 8
    assert "0.008" in plan.lr_advice and "0.00283" in plan.lr_advice  # linear, sqrt
    assert "BatchNorm" in plan.lr_advice
    with pytest.raises(ValueError, match="smaller than the physical batch"):
        accumulate_to(learn, 8)
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, GradientAccumulation)])


def test_find_batch_size_without_linux_proc_measures_by_polling(learn, monkeypatch, tmp_path):
    """macOS/Windows have no /proc: the resident size is polled instead of failing."""
    from cvnb.train import _memory

    monkeypatch.setattr(_memory, "_PROC_PEAK", tmp_path / "no-proc" / "clear_refs")
    res = find_batch_size(learn, max_bs=8, min_bs=4, repeats=1, progress=False)
    assert list(res.table["bs"]) == [4, 8] and res.table["fits"].all()
    assert (res.table["peak_mem_mb"] > 0).all() and (res.table["img_per_s"] > 0).all()
    assert res.budget_mb > 0


def test_find_batch_size_without_any_meter_reports_speed_with_a_warning(
    learn, monkeypatch, tmp_path
):
    from cvnb.train import _memory

    monkeypatch.setattr(_memory, "_PROC_PEAK", tmp_path / "no-proc" / "clear_refs")
    monkeypatch.setattr(_memory, "_psutil", lambda: None)
    with pytest.warns(RuntimeWarning, match="speed only"):
        res = find_batch_size(learn, max_bs=8, min_bs=4, repeats=1, progress=False)
    assert list(res.table["bs"]) == [4, 8] and res.table["fits"].all()
    assert res.table["peak_mem_mb"].isna().all() and (res.table["img_per_s"] > 0).all()

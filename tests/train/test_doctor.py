"""The training doctor names the right problem on synthetic curves and on a real bad run."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from cvnb.train import make_learner
from cvnb.train._doctor import (
    FINDING_KINDS,
    Diagnosis,
    DoctorThresholds,
    diagnose,
    diagnose_curves,
    smooth_losses,
)

EPOCHS, PER_EPOCH = 8, 40
N = EPOCHS * PER_EPOCH
IDX = np.arange(N)


def _run(raw_batches, valid, *, metric=None, lrs=None, noise=0.05, seed=0) -> dict:
    """Curves as fastai records them: smoothed batch loss, epoch means, per-batch rates."""
    raw = np.asarray(raw_batches, float) + np.random.default_rng(seed).normal(0, noise, N)
    return {
        "train_loss": raw.reshape(EPOCHS, PER_EPOCH).mean(1),
        "valid_loss": np.asarray(valid, float),
        "metric": metric,
        "batch_loss": smooth_losses(raw),
        "lrs": np.full(N, 1e-3) if lrs is None else lrs,
        "iters": np.arange(1, EPOCHS + 1) * PER_EPOCH,
    }


def _one_cycle() -> np.ndarray:
    pct = IDX / N
    warm = 1e-3 * (0.04 + 0.96 * (1 - np.cos(np.pi * pct / 0.25)) / 2)
    anneal = 1e-3 * (1 + np.cos(np.pi * (pct - 0.25) / 0.75)) / 2
    return np.where(pct < 0.25, warm, anneal)


E = np.arange(EPOCHS)
CURVES = {
    "healthy": lambda: _run(
        0.5 + 2.0 * np.exp(-IDX / 60),
        0.55 + 1.5 * np.exp(-E / 1.5),
        metric=0.97 - 0.6 * np.exp(-E / 1.2),
        lrs=_one_cycle(),
    ),
    "diverged": lambda: _run(
        2.3 - 0.3 * IDX / N + np.exp(np.clip(IDX - 250, 0, None) / 15), E + 2.0
    ),
    "oscillating": lambda: _run(
        1.2 + 0.9 * np.sin(2 * np.pi * IDX / 80), 1.2 + 0.4 * (-1.0) ** E, noise=0.2
    ),
    "overfitting": lambda: _run(
        0.05 + 2.2 * np.exp(-IDX / 50),
        [0.9, 0.6, 0.5, 0.48, 0.55, 0.65, 0.75, 0.85],
        metric=[0.8, 0.88, 0.9, 0.91, 0.9, 0.89, 0.88, 0.87],
    ),
    "lr_too_low": lambda: _run(2.3 - 0.7 * IDX / N, 2.25 - 0.09 * E),
    "underfitting": lambda: _run(
        2.0 + 0.3 * np.exp(-IDX / 20), np.full(EPOCHS, 2.05), metric=np.full(EPOCHS, 0.3)
    ),
    "plateau": lambda: _run(
        0.9 + 1.4 * np.exp(-IDX / 25), [1.4, 1.1, 0.95, 0.93, 0.93, 0.93, 0.931, 0.93]
    ),
}


@pytest.mark.parametrize("kind", list(CURVES))
def test_names_the_right_problem_on_synthetic_curves(kind):
    diagnosis = diagnose_curves(**CURVES[kind]())
    assert diagnosis.kinds == [kind], diagnosis
    if kind == "healthy":
        assert diagnosis.healthy and not diagnosis.findings
        return
    (finding,) = diagnosis.findings
    assert finding.kind in FINDING_KINDS and finding.action
    assert any(ch.isdigit() for ch in finding.evidence), finding.evidence  # numbers as evidence


@pytest.mark.parametrize("kind", list(CURVES))
def test_epoch_curves_alone_give_the_same_answer(kind):
    curves = CURVES[kind]()
    only_epochs = diagnose_curves(curves["train_loss"], curves["valid_loss"], lrs=curves["lrs"])
    assert only_epochs.kinds == [kind], only_epochs


def test_nan_loss_is_divergence_with_its_position():
    curves = CURVES["healthy"]()
    curves["valid_loss"][5:] = np.nan
    curves["batch_loss"][210:] = np.nan
    diagnosis = diagnose_curves(**curves)
    assert diagnosis.kinds == ["diverged"]
    assert "nan at batch 210" in diagnosis.findings[0].evidence


def test_thresholds_are_parameters():
    curves = CURVES["overfitting"]()
    assert diagnose_curves(**curves).kinds == ["overfitting"]
    lenient = diagnose_curves(**curves, thresholds=DoctorThresholds(overfit_rise=1.0))
    assert "overfitting" not in lenient.kinds
    flat = CURVES["plateau"]()
    assert (
        "plateau"
        not in diagnose_curves(**flat, thresholds=DoctorThresholds(plateau_epochs=6)).kinds
    )
    # A one-cycle schedule ends flat by design: not a plateau.
    flat["lrs"] = _one_cycle()
    assert "plateau" not in diagnose_curves(**flat).kinds


def test_raw_batch_losses_are_smoothed_like_fastai():
    curves = CURVES["healthy"]()
    raw = np.r_[3.0, np.full(9, 1.0)]
    assert smooth_losses(raw)[0] == 3.0  # debiased: the first value is the first loss
    np.testing.assert_allclose(smooth_losses(np.full(5, 2.0)), 2.0)
    smoothed = diagnose_curves(**{**curves, "batch_loss": curves["batch_loss"]})
    assert smoothed.healthy


def test_plots_and_html_show_the_evidence():
    for kind in CURVES:
        diagnosis = diagnose_curves(**CURVES[kind]())
        fig = diagnosis.plot()
        assert isinstance(fig, Figure) and len(fig.axes) == max(len(diagnosis.findings), 1)
        html = diagnosis._repr_html_()
        for finding in diagnosis.findings:
            panel = finding.plot()
            (ax,) = panel.axes
            assert ax.get_title().startswith(finding.kind)
            labels = [t.get_text() for t in ax.get_legend().get_texts()]
            assert labels[0].startswith("train loss")
            assert finding.action.split(" ")[0] in html
    assert "healthy" in diagnose_curves(**CURVES["healthy"]())._repr_html_()
    table = diagnose_curves(**CURVES["overfitting"]()).to_frame()
    assert table.columns.tolist() == ["kind", "severity", "evidence", "action"]


def test_bad_input_raises():
    with pytest.raises(ValueError, match="equally long"):
        diagnose_curves([1.0, 0.9], [1.0])


@pytest.mark.slow
def test_real_run_with_a_rate_far_too_high_is_caught(digits_subset):
    keep = digits_subset.groupby(["split", "label"]).cumcount() < 8  # 80 train, 80 valid
    learn = make_learner(digits_subset[keep], img_size=32, bs=16)
    with pytest.raises(ValueError, match="nothing recorded"):
        diagnose(learn)
    with learn.no_bar(), learn.no_logging():
        learn.fit(3, 10.0)
    diagnosis = diagnose(learn)
    assert isinstance(diagnosis, Diagnosis)
    assert diagnosis.kinds[0] in {"diverged", "oscillating"}, diagnosis
    assert diagnosis.findings[0].severity in {"critical", "warning"}
    values = np.array(learn.recorder.values, dtype=float)
    np.testing.assert_array_equal(diagnosis.curves.train_loss, values[:, 0])
    np.testing.assert_array_equal(diagnosis.curves.metric, values[:, 2])
    assert diagnosis.curves.metric_name == "accuracy"
    assert len(diagnosis.curves.batch_loss) == 15
    assert diagnose(learn.recorder).kinds == diagnosis.kinds
    assert isinstance(diagnosis.findings[0].plot(), Figure)

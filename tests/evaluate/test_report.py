"""evaluation_report(): figures that agree with scikit-learn and fastai, on valid and test."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from cvnb.data import make_splits
from cvnb.evaluate import EvaluationReport, evaluation_report, predictions
from cvnb.evaluate._report import _bootstrap_ci


@pytest.fixture(scope="module")
def report(trained_digits) -> EvaluationReport:
    return evaluation_report(trained_digits, bootstrap=500, seed=0)


def test_figures_agree_with_sklearn_on_the_same_predictions(report, trained_digits):
    table = report.predictions
    y, p = table.label.to_numpy(), table.prediction.to_numpy()
    classes = list(trained_digits.dls.vocab)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, p, labels=classes, zero_division=0
    )
    np.testing.assert_allclose(report.per_class.precision, precision)
    np.testing.assert_allclose(report.per_class.recall, recall)
    np.testing.assert_allclose(report.per_class.f1, f1)
    assert report.per_class.support.tolist() == support.tolist()
    assert report.per_class["class"].tolist() == classes
    assert report.balanced_accuracy == pytest.approx(balanced_accuracy_score(y, p))
    cm = confusion_matrix(y, p, labels=classes)
    assert (report.confusion.to_numpy() == cm).all()
    assert report.confusion.to_numpy().sum() == len(table) == 200
    assert report.confusion.index.name == "true"


def test_figures_agree_with_fastai_validate_and_predictions(report, trained_digits):
    _, accuracy, balanced = trained_digits.validate()
    assert report.accuracy == pytest.approx(float(accuracy), abs=1e-6)
    assert report.balanced_accuracy == pytest.approx(float(balanced), abs=1e-6)
    plain = predictions(trained_digits)
    assert report.predictions.prediction.tolist() == plain.prediction.tolist()
    np.testing.assert_allclose(report.predictions.prob, plain.prob, rtol=1e-5)
    np.testing.assert_allclose(report.probs.sum(axis=1), 1.0, rtol=1e-5)


def test_a_fitted_temperature_is_applied_as_predictions_applies_it(trained_digits):
    config = trained_digits.cvnb_config
    before = getattr(config, "temperature", 1.0)
    config.temperature = 2.0
    try:
        report = evaluation_report(trained_digits, bootstrap=0)
        plain = predictions(trained_digits)
    finally:
        config.temperature = before
    np.testing.assert_allclose(report.predictions.prob, plain.prob, rtol=1e-5)
    assert report.predictions.prediction.tolist() == plain.prediction.tolist()


def test_bootstrap_interval_contains_the_accuracy_and_is_seeded(report, trained_digits):
    lo, hi = report.accuracy_ci
    assert 0 <= lo < report.accuracy < hi <= 1
    # ~ ±2 standard errors of a proportion over 200 images
    se = np.sqrt(report.accuracy * (1 - report.accuracy) / 200)
    assert hi - lo == pytest.approx(4 * se, rel=0.25)
    again = evaluation_report(trained_digits, bootstrap=500, seed=0)
    assert again.accuracy_ci == report.accuracy_ci
    correct = report.predictions.correct.to_numpy()
    assert _bootstrap_ci(correct, 500, 0) == report.accuracy_ci
    assert _bootstrap_ci(correct, 500, 1) != report.accuracy_ci
    assert np.isnan(_bootstrap_ci(correct, 0, 0)[0])
    with pytest.raises(ValueError, match="bootstrap must be 0 or more"):
        evaluation_report(trained_digits, bootstrap=-1)


def test_top_losses_worst_first_with_the_columns_show_images_reads(report):
    top = report.top_losses
    assert top.loss.is_monotonic_decreasing
    assert {"path", "label", "prediction", "prob", "loss"} <= set(top.columns)
    np.testing.assert_allclose(top.loss, -np.log(top.prob_true))
    assert not report.mistakes.correct.any()
    assert len(report.mistakes) == round((1 - report.accuracy) * 200)


def test_slices_cover_every_row(report):
    slices = report.slices
    assert {"image_size", "aspect", "brightness"} <= set(slices.column)
    for _, group in slices.groupby("column"):
        assert group.n.sum() == 200
        assert group.errors.sum() == (~report.predictions.correct).sum()
    brightness = slices[slices.column == "brightness"]
    assert len(brightness) == 4  # quartiles of a continuous measure
    np.testing.assert_allclose(slices.error_rate, slices.errors / slices.n)


def test_test_split_and_extra_columns(trained_digits, digits_subset):
    # A test split carved out of the valid rows (train rows stay as the learner saw them).
    valid = make_splits(digits_subset[digits_subset.split == "valid"], valid_pct=0.5, seed=0)
    valid["split"] = valid.split.map({"train": "test", "valid": "valid"})
    table = pd.concat([digits_subset[digits_subset.split == "train"], valid], ignore_index=True)
    table["source"] = np.where(table.index % 2 == 0, "camera", "scanner")
    table["file_id"] = table.path.str.rsplit("/", n=1).str[-1]  # an identifier: not a slice
    table.loc[len(table) - 1, "error"] = "truncated file"  # unreadable rows are left out
    report = evaluation_report(trained_digits, "test", df=table, bootstrap=100)
    assert report.split == "test"
    tested = table[(table.split == "test") & table.error.isna()]
    assert sorted(report.predictions.path) == sorted(tested.path)
    source = report.slices[report.slices.column == "source"]
    assert set(source.bin) == {"camera", "scanner"} and source.n.sum() == len(report.predictions)
    assert "file_id" not in set(report.slices.column)
    assert "test split" in repr(report)


def test_a_test_label_the_model_has_no_class_for(trained_digits, digits_subset):
    table = digits_subset.copy()
    odd = table.index[table.split == "valid"][:5]
    table.loc[odd, ["split", "label"]] = ["test", "ten"]
    report = evaluation_report(trained_digits, "test", df=table, bootstrap=0)
    assert report.accuracy == 0 and np.isinf(report.predictions.loss).all()
    assert report.per_class.set_index("class").loc["ten", "support"] == 5
    assert report.confusion.loc["ten"].sum() == 5
    assert "no class for" in repr(report)


def test_test_split_needs_the_table(trained_digits, digits_subset):
    # The learner keeps the table it was built from; that one has no test rows.
    with pytest.raises(ValueError, match="make_splits"):
        evaluation_report(trained_digits, "test")
    with pytest.raises(ValueError, match="make_splits"):
        evaluation_report(trained_digits, "test", df=digits_subset)
    table = trained_digits.cvnb_table
    try:
        trained_digits.cvnb_table = None  # a learner made without cvnb.train.make_learner
        with pytest.raises(ValueError, match=r"df=table"):
            evaluation_report(trained_digits, "test")
    finally:
        trained_digits.cvnb_table = table


def test_plot_and_notebook_repr(report):
    counts = report.plot()
    rates = report.plot(normalize=True)
    assert counts is not rates and len(counts.axes) == 2  # the matrix and its colour bar
    assert "row-normalised" in rates.axes[0].get_title()
    plt.close("all")
    html = report._repr_html_()
    assert "accuracy" in html and "<table" in html
    assert "95% CI" in repr(report)

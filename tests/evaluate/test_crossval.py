"""cross_validate() and ensemble_predict() on real digits, in fast mode (k=2, 32 px, 1 epoch)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from cvnb.data import subset
from cvnb.evaluate import (
    CrossValidation,
    cross_validate,
    ensemble_predict,
    oof_label_scores,
)

K = 2
PER_CLASS = 10  # training images per class: 100 in all, 50 per fold


@pytest.fixture(scope="module")
def small(digits_subset) -> pd.DataFrame:
    return subset(digits_subset, PER_CLASS)


@pytest.fixture(scope="module")
def cv(small) -> CrossValidation:
    return cross_validate(
        small,
        K,
        epochs=1,
        ensemble=True,
        progress=False,
        learner_kwargs={"img_size": 32, "bs": 32},
    )


def test_k_distinct_folds_cover_every_training_image_once_out_of_fold(cv, small):
    train_paths = small.path[small.split == "train"]
    oof = cv.oof
    assert len(oof) == len(train_paths) and oof.path.is_unique
    assert set(oof.path) == set(train_paths)  # valid rows stay out
    assert sorted(oof.fold.unique()) == list(range(K))
    held = [set(oof.path[oof.fold == f]) for f in range(K)]
    assert all(held[i].isdisjoint(held[j]) for i in range(K) for j in range(i + 1, K))
    assert set().union(*held) == set(train_paths)
    # Stratified: every class is split evenly over the folds.
    assert (pd.crosstab(oof.label, oof.fold) == PER_CLASS // K).all().all()
    # Out of fold: each fold's model trained on the other folds only, and was a fresh one.
    for f, learn in enumerate(cv.learners):
        assert set(learn.dls.train.items.path) == set(train_paths) - held[f]
        assert set(learn.dls.valid.items.path) == held[f]
    assert cv.learners[0].model is not cv.learners[1].model


def test_fold_figures_and_summary_agree_with_the_oof_table(cv):
    oof = cv.oof
    by_fold = oof.groupby("fold").correct.mean()
    np.testing.assert_allclose(cv.folds.accuracy, by_fold.to_numpy())
    assert cv.folds.n_held_out.tolist() == oof.fold.value_counts().sort_index().tolist()
    summary = cv.summary
    assert summary.loc["accuracy", "mean"] == pytest.approx(cv.folds.accuracy.mean())
    assert summary.loc["accuracy", "std"] == pytest.approx(cv.folds.accuracy.std(ddof=1))
    assert "±" in summary.loc["balanced_accuracy", "text"]
    probs = cv.probs
    assert probs.shape == (len(oof), len(cv.classes))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (np.asarray(cv.classes)[probs.argmax(1)] == oof.prediction.to_numpy()).all()
    assert cv.oof.correct.mean() > 0.3  # a real model: well above chance (0.1) on digits
    assert "2 folds over 100 training images" in repr(cv)


def test_ensemble_averages_the_fold_models_softmax(cv, small):
    valid = small[small.split == "valid"]
    both = ensemble_predict(cv, valid)
    singles = [ensemble_predict(learn, valid) for learn in cv.learners]
    probs = np.stack(both.probs.to_list())
    assert probs.shape == (len(valid), len(cv.classes))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    mean = np.mean([np.stack(s.probs.to_list()) for s in singles], axis=0)
    np.testing.assert_allclose(probs, mean, rtol=1e-5, atol=1e-7)
    assert both.attrs["n_models"] == K and both.correct.dtype == bool
    flipped = ensemble_predict(cv.learners, valid.path.tolist()[:8], tta=True)
    tta = np.stack(flipped.probs.to_list())
    np.testing.assert_allclose(tta.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(tta, probs[:8])  # the mirror images changed the answer
    assert list(flipped.columns) == ["path", "prediction", "prob", "probs"]


def test_ensemble_needs_kept_learners(cv, small):
    without = dataclasses.replace(cv, learners=None)
    with pytest.raises(ValueError, match="ensemble=True"):
        ensemble_predict(without, small)


def test_label_issue_scores_from_oof_probabilities(cv):
    issues = cv.label_issues()
    assert issues.label_score.is_monotonic_increasing
    assert issues.label_score.between(0, 1).all()
    plain = oof_label_scores(cv.probs, cv.oof.label, cv.classes, method="self_confidence")
    np.testing.assert_allclose(plain, cv.oof.prob_true)
    margin = oof_label_scores(cv.probs, cv.oof.label, cv.classes, method="margin")
    assert ((margin < 0.5) == ~cv.oof.correct.to_numpy()).all()  # below 0.5: another wins


@pytest.mark.parametrize(
    ("k", "match"), [(PER_CLASS + 1, "largest k allowed is 10"), (1, "k must be at least 2")]
)
def test_k_out_of_range(small, k, match):
    with pytest.raises(ValueError, match=match):
        cross_validate(small, k, progress=False)

"""predictions(): a learner's outputs on the rows of their images."""

from __future__ import annotations

import pytest
import torch

from cvnb.evaluate import predictions
from cvnb.train import make_learner


@pytest.fixture(scope="module")
def learn(digits_subset):
    learn = make_learner(digits_subset, img_size=32, bs=32)
    learn.unfreeze()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 5e-3)
    return learn


@pytest.mark.parametrize("split", ["valid", "train"])
def test_each_row_holds_its_own_images_prediction(learn, digits_subset, split):
    table = predictions(learn, split)
    expected = digits_subset[digits_subset.split == split]
    assert sorted(table.path) == sorted(expected.path)  # every image once, none dropped
    assert list(table.columns[-3:]) == ["prediction", "prob", "correct"]
    # Recompute a few rows one image at a time: the prediction must be that image's.
    sample = table.sample(6, random_state=0)
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(sample.path.tolist()))
    assert [learn.dls.vocab[i] for i in probs.argmax(1)] == sample.prediction.tolist()
    torch.testing.assert_close(probs.max(1).values.numpy(), sample.prob.to_numpy())
    assert (table.correct == (table.prediction == table.label)).all()


def test_accuracy_agrees_with_validate(learn):
    table = predictions(learn)
    assert table.correct.mean() == pytest.approx(float(learn.validate()[1]), abs=1e-6)


def test_unknown_split_is_an_error(learn):
    with pytest.raises(ValueError, match="split must be one of"):
        predictions(learn, "test")


def test_train_predictions_use_the_deterministic_pipeline(digits_subset):
    """Training images are predicted without their random augmentation, as at inference."""
    learn = make_learner(digits_subset, img_size=32, bs=32, augment="heavy", seed=0)
    first, second = predictions(learn, "train"), predictions(learn, "train")
    torch.testing.assert_close(first.prob.to_numpy(), second.prob.to_numpy())
    items = learn.dls.train.items
    probs, _ = learn.get_preds(dl=learn.dls.test_dl(items, with_labels=True))
    torch.testing.assert_close(first.prob.to_numpy(), probs.max(1).values.numpy())

"""Pairs, outliers and label issues, on embeddings of the real digits."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageEnhance
from sklearn.datasets import load_sample_images

from cvnb.data import read_image
from cvnb.quality._embed import Embedder, make_embedder
from cvnb.quality._neighbors import nearest_neighbors
from cvnb.quality._semantic import label_issue_scores, outlier_scores, similar_pairs

N_FLIPS = 20  # 5 % of digits_subset's 400 images


@pytest.fixture(scope="module")
def embedder(tmp_path_factory) -> Iterator[Embedder]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CVNB_CACHE", str(tmp_path_factory.mktemp("cvnb-cache")))
        yield make_embedder()


@pytest.fixture(scope="module")
def digits(digits_subset: pd.DataFrame) -> list[Image.Image]:
    return [read_image(p) for p in digits_subset.path]


@pytest.fixture(scope="module")
def digit_emb(embedder: Embedder, digits) -> np.ndarray:
    return embedder(digits)


def _photo_crops(n: int) -> list[Image.Image]:
    """Off-domain images: crops of scikit-learn's two sample photos."""
    photos = load_sample_images().images
    return [
        Image.fromarray(photos[i % 2][60 * i : 60 * i + 96, 80 * i : 80 * i + 96]) for i in range(n)
    ]


def test_similar_pairs_finds_planted_copies(embedder: Embedder, digits, digit_emb) -> None:
    sources = [3, 50, 120, 260, 390]
    # Brightness-shifted copies. (A resized copy of an 8×8 file is another drawing: upscaled
    # 8→32→96 px it is as far from its source as neighbouring digits are.)
    copies = [
        ImageEnhance.Brightness(digits[s]).enhance(f)
        for s, f in zip(sources, [1.15, 0.85, 1.1, 0.9, 1.2], strict=True)
    ]
    emb = np.vstack([digit_emb, embedder(copies)])
    n = len(digits)
    pairs = similar_pairs(emb, 0.95)
    found = {(int(i), int(j)) for i, j, _ in pairs}
    for c, s in enumerate(sources):
        assert (s, n + c) in found
        assert nearest_neighbors(emb, 1)[1][n + c, 0] == s
    assert (pairs[:, 0] < pairs[:, 1]).all() and (pairs[:, 2] >= 0.95).all()
    assert len(found) == len(pairs)  # each pair once
    assert (np.diff(pairs[:, 2]) <= 0).all()  # most similar first
    # The same result from a search done once for several scores.
    np.testing.assert_array_equal(
        similar_pairs(emb, 0.95, neighbors=nearest_neighbors(emb, 10)), pairs
    )


def test_similar_pairs_of_unrelated_vectors_is_empty() -> None:
    pairs = similar_pairs(np.eye(6, dtype=np.float32), 0.5)
    assert pairs.shape == (0, 3)
    assert similar_pairs(np.ones((1, 4)), 0.5).shape == (0, 3)


def test_outlier_scores_rank_off_domain_photos_lowest(embedder: Embedder, digit_emb) -> None:
    photos = embedder(_photo_crops(5))
    scores = outlier_scores(np.vstack([digit_emb, photos]))
    n = len(digit_emb)
    assert ((scores > 0) & (scores <= 1)).all()
    assert set(np.argsort(scores)[:5]) == set(range(n, n + 5))
    assert (scores[n:] < 0.5).all()
    assert np.mean(scores[:n] >= 0.5) > 0.95  # the digits themselves are typical


def test_label_issue_scores_rank_flipped_digits_worst(digits_subset, digit_emb) -> None:
    truth = digits_subset.label.to_numpy()
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(truth), N_FLIPS, replace=False)
    given = truth.copy()
    for i in flipped:
        given[i] = rng.choice([c for c in np.unique(truth) if c != truth[i]])

    score, prob, predicted = label_issue_scores(digit_emb, given, seed=0)
    rank = np.argsort(np.argsort(score, kind="stable"), kind="stable")
    precision_at_k = np.isin(np.argsort(score, kind="stable")[:N_FLIPS], flipped).mean()
    assert precision_at_k >= 0.7
    assert rank[flipped].max() < len(truth) // 4  # every flip in the worst quarter
    assert np.mean(predicted[flipped] == truth[flipped]) >= 0.7  # the suggested fix
    assert ((score >= 0) & (score <= 1)).all() and ((prob >= 0) & (prob <= 1)).all()
    assert isinstance(predicted[0], type(given[0]))
    again = label_issue_scores(digit_emb, given, seed=0)
    np.testing.assert_array_equal(again[0], score)


def test_label_issue_scores_handle_missing_rare_and_single_labels(digit_emb) -> None:
    emb = digit_emb[:120]
    labels = np.array(["a", "b", "c"] * 40, dtype=object)
    labels[5] = None
    labels[6] = np.nan
    labels[7] = "typo"  # a class of one: no fold can learn it, so it gets scored low
    score, prob, predicted = label_issue_scores(emb, labels, seed=1, method="self_confidence")
    assert np.isnan(score[[5, 6]]).all() and np.isnan(prob[[5, 6]]).all()
    assert predicted[5] in {"a", "b", "c"}
    assert score[7] == 0.0
    assert np.isfinite(np.delete(score, [5, 6])).all()

    one_class = label_issue_scores(emb, ["a"] * len(emb))
    assert np.isnan(one_class[0]).all() and (one_class[2] == "a").all()
    with pytest.raises(ValueError, match="one label per row"):
        label_issue_scores(emb, labels[:10])
    with pytest.raises(ValueError, match="method must be"):
        label_issue_scores(emb, labels, method="entropy")

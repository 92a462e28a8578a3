"""mix_images repeats fastai's MixUp / CutMix arithmetic on a few images."""

from __future__ import annotations

import numpy as np
import pytest

from cvnb.augment._mix import mix_images


@pytest.fixture
def batch(scene):
    return [scene, np.full_like(scene, 10), np.full_like(scene, 240), scene[::-1].copy()]


def test_mixup_is_a_weighted_sum_with_the_larger_weight_on_the_own_image(batch):
    mixed = mix_images(batch, "mixup", alpha=0.4, seed=1)
    assert len(mixed) == 4
    partners = sorted(info["partner"] for _, info in mixed)
    assert partners == [0, 1, 2, 3]  # a permutation
    for i, (image, info) in enumerate(mixed):
        assert info["mix"] == "mixup" and 0.5 <= info["lam"] <= 1
        j, lam = info["partner"], info["lam"]
        expected = lam * batch[i].astype(float) + (1 - lam) * batch[j].astype(float)
        assert np.abs(image.astype(float) - expected).max() <= 0.5 + 1e-9


def test_cutmix_pastes_one_box_from_the_partner(batch):
    mixed = mix_images(batch, "cutmix", alpha=1.0, seed=4)
    boxes = {info["box"] for _, info in mixed}
    assert len(boxes) == 1  # one box for the batch, as in fastai
    x1, y1, x2, y2 = boxes.pop()
    height, width = batch[0].shape[:2]
    assert (x2 - x1) * (y2 - y1) > 0
    for i, (image, info) in enumerate(mixed):
        j = info["partner"]
        assert np.array_equal(image[y1:y2, x1:x2], batch[j][y1:y2, x1:x2])
        outside = np.ones((height, width), bool)
        outside[y1:y2, x1:x2] = False
        assert np.array_equal(image[outside], batch[i][outside])
        assert info["lam"] == pytest.approx(1 - (x2 - x1) * (y2 - y1) / (height * width))


def test_seeded(batch):
    a = mix_images(batch, "cutmix", seed=3)
    b = mix_images(batch, "cutmix", seed=3)
    c = mix_images(batch, "cutmix", seed=5)
    assert all(np.array_equal(x, y) and p == q for (x, p), (y, q) in zip(a, b, strict=True))
    assert any(p != q for (_, p), (_, q) in zip(a, c, strict=True))


def test_errors(batch):
    with pytest.raises(ValueError, match="share one shape"):
        mix_images([batch[0], batch[0][:10]], "mixup")
    with pytest.raises(ValueError, match="needs mix"):
        mix_images(batch, None)
    assert mix_images([], "mixup") == []

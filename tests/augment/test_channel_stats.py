"""dataset_stats on the real digit scans, checked against a direct computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from cvnb.augment import DatasetStats, dataset_stats
from cvnb.augment._resize import resize_steps
from cvnb.data import read_image


@pytest.fixture(scope="module")
def stats(digits_subset) -> DatasetStats:
    # 200 training images in the subset: max_images covers them all.
    return dataset_stats(digits_subset, max_images=500, size=16, policy="squish", progress=False)


def test_mean_and_std_are_those_of_the_resized_training_pixels(stats, digits_subset):
    train = digits_subset[digits_subset["split"] == "train"]
    pixels = []
    for path in train["path"]:
        image = np.asarray(read_image(path))
        for step in resize_steps(16, "squish"):
            image = step(image=image)["image"]
        pixels.append(image.reshape(-1, 3) / 255.0)
    allp = np.concatenate(pixels)
    np.testing.assert_allclose(stats.mean, allp.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(stats.std, allp.std(axis=0), atol=1e-4)
    assert stats.n_images == 200 and (stats.size, stats.policy) == (16, "squish")


def test_digits_are_grey_and_compared_with_imagenet_for_lite0(stats):
    assert stats.gray_share == 1.0 and "grayscale_scan" in stats.advice
    assert stats.backbone_mean == (0.5, 0.5, 0.5) and stats.backbone_std == (0.5, 0.5, 0.5)
    assert stats.reference_mean == pytest.approx((0.485, 0.456, 0.406))
    assert "0.5" in stats.advice and "ImageNet" in stats.advice
    assert "darker" in stats.advice  # black background, thin white strokes
    json.dumps(stats.to_dict())


def test_other_backbones_and_none(digits_subset):
    kw = {"max_images": 10, "size": 16, "progress": False}
    resnet = dataset_stats(digits_subset, backbone="resnet18", **kw)
    assert resnet.reference_mean == resnet.backbone_mean == pytest.approx((0.485, 0.456, 0.406))
    bare = dataset_stats(digits_subset, backbone=None, **kw)
    assert bare.reference_mean is None and bare.backbone_mean is None
    with pytest.raises(ValueError, match="timm has no model named"):
        dataset_stats(digits_subset, backbone="no_such_net", **kw)


def test_the_sample_is_seeded(digits_subset):
    kw = {"max_images": 15, "size": 16, "policy": "letterbox", "progress": False}
    a, b = dataset_stats(digits_subset, seed=0, **kw), dataset_stats(digits_subset, seed=0, **kw)
    c = dataset_stats(digits_subset, seed=1, **kw)
    assert a.mean == b.mean and a.mean != c.mean and a.n_images == 15


def test_plot_and_html(stats):
    fig = stats.plot()
    assert isinstance(fig, Figure) and len(fig.get_axes()) == 2
    assert len(fig.get_axes()[0].patches) == 6  # dataset and reference, 3 channels
    page = stats._repr_html_()
    assert "ImageNet" in page and "this dataset" in page


def test_nothing_to_measure(digits_subset):
    with pytest.raises(ValueError, match="no readable images"):
        dataset_stats(digits_subset.assign(error="bad"), progress=False)

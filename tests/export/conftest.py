"""Fixtures for the export tests: a Lite0 learner trained one epoch on a digits subset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cvnb.train import make_learner


@pytest.fixture(scope="module")
def trained(digits_subset: pd.DataFrame):
    learn = make_learner(digits_subset, img_size=32, bs=32)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)
    return learn


@pytest.fixture(scope="session")
def photos(coco_crops: Path) -> list[Path]:
    """Non-square real photos (JPEG, RGB), to exercise the resize policies."""
    return sorted(coco_crops.glob("valid/*/*.jpg"))[::4]

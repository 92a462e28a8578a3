"""Fixtures for the export tests: a Lite0 learner trained one epoch on a digits subset.

torch runs on one thread here: on two cores shared with other jobs, OpenMP's spin-waiting
makes two threads several times slower than one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from cvnb.data import load_images
from cvnb.datasets import digits
from cvnb.train import make_learner

COCO_CROPS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "coco-crops"
PER_CLASS = 20  # images per class and split: 200 train, 200 valid


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits_subset(tmp_path_factory) -> pd.DataFrame:
    table = load_images(digits(root=tmp_path_factory.mktemp("cvnb-cache") / "digits"))
    keep = table.groupby(["split", "label"]).cumcount() < PER_CLASS
    return table[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def trained(digits_subset: pd.DataFrame):
    learn = make_learner(digits_subset, img_size=32, bs=32)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)
    return learn


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    """Non-square real photos (JPEG, RGB), to exercise the resize policies."""
    if not COCO_CROPS.is_dir():
        pytest.skip(f"real-photo set not found at {COCO_CROPS}")
    return sorted(COCO_CROPS.glob("valid/*/*.jpg"))[::4]

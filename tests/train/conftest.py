"""Fixtures for the training tests: the digits set written once, and a small subset of it.

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

PER_CLASS = 20  # images per class and split: 200 train, 200 valid


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory) -> Path:
    return digits(root=tmp_path_factory.mktemp("cvnb-cache") / "digits")


@pytest.fixture(scope="session")
def digits_table(digits_root: Path) -> pd.DataFrame:
    return load_images(digits_root)


@pytest.fixture(scope="session")
def digits_subset(digits_table: pd.DataFrame) -> pd.DataFrame:
    """The first PER_CLASS rows of each class in each split."""
    keep = digits_table.groupby(["split", "label"]).cumcount() < PER_CLASS
    return digits_table[keep].reset_index(drop=True)

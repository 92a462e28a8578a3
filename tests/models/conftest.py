"""Fixtures for the model tests: real photos, and one torch thread.

With two cores shared by other jobs, OpenMP's spin-waiting makes a two-thread forward pass
several times slower than a one-thread one, so these tests run torch on one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

COCO_CROPS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "coco-crops"


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def coco_crops() -> Path:
    """Real COCO object crops in ImageFolder layout (train/valid × 5 classes)."""
    if not COCO_CROPS.is_dir():
        pytest.skip(f"real-photo set not found at {COCO_CROPS}")
    return COCO_CROPS

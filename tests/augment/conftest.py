"""Images for the augmentation tests: a structured scene (always) and real photos (when the
shared coco-crops set is there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def scene() -> np.ndarray:
    """A 60 × 90 RGB image with gradients and asymmetric shapes: every transform changes it."""
    y, x = np.mgrid[0:60, 0:90]
    image = np.stack([x * 255 // 90, y * 255 // 60, ((x // 10 + y // 10) % 2) * 200], axis=2)
    image[5:20, 8:30] = (250, 240, 20)  # an off-centre block: flips and rotations move it
    return image.astype(np.uint8)


@pytest.fixture(scope="session")
def photo(coco_crops: Path) -> Path:
    """One real, non-square photo."""
    return sorted(coco_crops.glob("valid/*/*.jpg"))[0]

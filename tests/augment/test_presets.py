"""Presets: every one builds, keeps the size, and does what its name promises."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

from cvnb.augment import DOMAIN_PRESETS, PRESETS, preset
from cvnb.augment._presets import PRESET_NOTES


def _names(steps) -> set[str]:
    names = set()
    for step in steps:
        names.add(type(step).__name__)
        names |= _names(getattr(step, "transforms", []))
    return names


@pytest.mark.parametrize("name", [*PRESETS, *DOMAIN_PRESETS])
def test_every_preset_returns_model_sized_uint8(scene, name):
    pipeline = preset(name, 40, policy="letterbox", fill=(250, 0, 0))
    for image, _ in pipeline.preview(scene, n=6):
        assert image.size == (40, 40) and image.mode == "RGB"
    assert name in PRESET_NOTES


def test_strength_grows():
    counts = [len(preset(n).transforms) for n in PRESETS]
    assert counts[0] == 0 and counts[1] < counts[2]
    heavy = _names(preset("heavy").transforms)
    medium = _names(preset("medium").transforms)
    for needed in ("HorizontalFlip", "Affine", "CoarseDropout", "GaussNoise"):
        assert needed in medium and needed in heavy
    assert {"RandomBrightnessContrast", "HueSaturationValue"} <= medium
    assert "ColorJitter" in heavy
    strongest = max(abs(r) for r in preset("heavy").transforms[1].rotate)
    assert strongest > max(abs(r) for r in preset("medium").transforms[1].rotate)


def test_fill_reaches_the_borders_affine_uncovers(scene):
    pipeline = preset("heavy", 48, policy="squish", fill=(0, 255, 0))
    green = [
        np.all(np.asarray(im) == (0, 255, 0), axis=-1).any()
        for im, _ in pipeline.preview(scene, 12)
    ]
    assert any(green)


def test_grayscale_scan_normalizes_in_validation_too(scene):
    pipeline = preset("grayscale_scan", 48)
    assert _names(pipeline.normalize) == {"ToGray", "AutoContrast", "CLAHE"}
    assert "HorizontalFlip" not in _names(pipeline.transforms)
    dull = (scene // 4 + 100).astype(np.uint8)  # low contrast
    valid = pipeline.apply(dull).astype(int)
    assert np.array_equal(valid[..., 0], valid[..., 2])  # grey
    # Intensity normalization: the image's range is stretched out (padding aside).
    assert np.ptp(valid[8:40]) > 2 * np.ptp(dull)


def test_document_has_no_flips_and_no_colour():
    names = _names(preset("document").transforms)
    assert not names & {"HorizontalFlip", "VerticalFlip", "D4", "HueSaturationValue"}
    assert {"Perspective", "ImageCompression"} <= names


def test_aerial_uses_all_eight_orientations(scene):
    pipeline = preset("aerial", 32)
    assert isinstance(pipeline.transforms[0], A.D4)
    seen = {a["D4"]["group_element"] for _, a in pipeline.preview(scene, n=40)}
    assert len(seen) == 8  # identity, 3 rotations by 90°, 4 flips (vertical included)


def test_preset_errors():
    with pytest.raises(ValueError, match=r"unknown preset 'strong'.*heavy"):
        preset("strong")
    with pytest.raises(TypeError, match="unexpected keyword"):
        preset("light", colour=1)

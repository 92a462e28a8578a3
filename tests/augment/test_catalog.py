"""The explorer's transform list and the parameter specs read from albumentations."""

from __future__ import annotations

import numpy as np
import pytest

from cvnb.augment._catalog import AUGMENTATIONS, ParamSpec, make_transform, transform_params


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_every_listed_transform_keeps_the_image_size(name, scene):
    specs = transform_params(name)
    assert specs[0] == ParamSpec("p", "float", specs[0].default, 0, 1)
    assert {s.kind for s in specs} <= {
        "float",
        "int",
        "bool",
        "choice",
        "float_range",
        "int_range",
        "other",
    }
    square = scene[:, :60]  # pipelines apply them after the resize, to squares
    out = make_transform(name, p=1.0)(image=square)["image"]
    assert out.shape == square.shape and out.dtype == np.uint8


def test_specs_carry_kinds_defaults_and_choices():
    specs = {s.name: s for s in transform_params("Affine")}
    assert specs["rotate"].kind == "float_range" and specs["scale"].default == (1.0, 1.0)
    assert specs["fit_output"].kind == "bool" and specs["fit_output"].default is False
    assert specs["rotate_method"].choices == ("largest_box", "ellipse")
    assert specs["translate_percent"].nullable and specs["translate_percent"].default is None
    assert "strict" not in specs and "mask_interpolation" not in specs
    quality = {s.name: s for s in transform_params("ImageCompression")}["quality_range"]
    assert quality.kind == "int_range" and quality.default == (99, 100)
    noise = {s.name: s for s in transform_params("GaussNoise")}["noise_scale_factor"]
    assert noise.kind == "float" and noise.maximum == 1


def test_make_transform_reports_the_librarys_message():
    with pytest.raises(ValueError, match=r"GaussNoise: std_range.*less than the second"):
        make_transform("GaussNoise", std_range=(0.5, 0.1))
    with pytest.raises(ValueError, match="'bogus' are not valid"):
        make_transform("GaussNoise", bogus=1)
    with pytest.raises(ValueError, match="no transform named 'Sparkle'"):
        transform_params("Sparkle")
    assert make_transform("HorizontalFlip", p=0.3).p == 0.3

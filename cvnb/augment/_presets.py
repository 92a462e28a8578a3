"""Augmentation presets for image classification: strength levels and domain recipes.

Every preset applies its random transforms *after* the resize policy (on the model-sized
image: cheap, and hole/shift sizes are fractions of it). Border fills of geometric
transforms use the pipeline's ``fill``, so a letterboxed image shifted by ``Affine`` shows
one pad colour, not two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import albumentations as A

from ._pipeline import Pipeline, make_pipeline
from ._resize import Fill, check_fill

__all__ = ["DOMAIN_PRESETS", "PRESETS", "PRESET_NOTES", "preset"]

#: Generic strength levels.
PRESETS = ("none", "light", "medium", "heavy")

#: Recipes that are standard for a kind of image.
DOMAIN_PRESETS = ("grayscale_scan", "document", "aerial")

#: One line per preset: what it does and when to use it.
PRESET_NOTES = {
    "none": "resize policy only: the baseline, and what validation always does",
    "light": "horizontal flip, small affine, mild brightness/contrast",
    "medium": "flip, affine (±15°, ±10% scale), brightness/contrast, hue/saturation, "
    "blur or noise, small cutout",
    "heavy": "flip, strong affine with shear, colour jitter, blur/noise, several cutouts: "
    "for small data sets and long training",
    "grayscale_scan": "X-rays, microscopy, scanned film: grey, autocontrast and CLAHE in "
    "training *and* validation/export; small affine, gamma, noise; no flips (laterality)",
    "document": "scanned or photographed pages: tiny rotation and perspective, contrast, "
    "blur, JPEG artefacts, noise; no flips, no colour (use fill=255 for white paper)",
    "aerial": "satellite/drone tiles seen from above: all 8 rotations by 90° and flips, "
    "small scale, brightness and colour",
}


def _light(fill: Fill) -> list:
    return [
        A.HorizontalFlip(p=0.5),
        A.Affine(
            scale=(0.95, 1.05), translate_percent=(-0.03, 0.03), rotate=(-5, 5), fill=fill, p=0.3
        ),
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.3),
    ]


def _medium(fill: Fill) -> list:
    return [
        A.HorizontalFlip(p=0.5),
        A.Affine(
            scale=(0.9, 1.1),
            translate_percent=(-0.0625, 0.0625),
            rotate=(-15, 15),
            fill=fill,
            p=0.5,
        ),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
        A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=20, val_shift_limit=10, p=0.3),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.GaussNoise(std_range=(0.02, 0.08))], p=0.2),
        A.CoarseDropout(
            num_holes_range=(1, 2),
            hole_height_range=(0.1, 0.2),
            hole_width_range=(0.1, 0.2),
            fill=fill,
            p=0.2,
        ),
    ]


def _heavy(fill: Fill) -> list:
    return [
        A.HorizontalFlip(p=0.5),
        A.Affine(
            scale=(0.75, 1.25),
            translate_percent=(-0.1, 0.1),
            rotate=(-30, 30),
            shear=(-10, 10),
            fill=fill,
            p=0.7,
        ),
        A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, p=0.7),
        A.OneOf(
            [
                A.GaussianBlur(blur_limit=(3, 7)),
                A.MotionBlur(blur_limit=(3, 7)),
                A.GaussNoise(std_range=(0.03, 0.12)),
            ],
            p=0.4,
        ),
        A.CoarseDropout(
            num_holes_range=(1, 6),
            hole_height_range=(0.05, 0.2),
            hole_width_range=(0.05, 0.2),
            fill=fill,
            p=0.5,
        ),
    ]


def _grayscale_scan(fill: Fill) -> tuple[list, list]:
    normalize = [
        # Intensity normalization: a linear stretch of each image to the full range
        # (1% tails ignored), then local contrast equalization, as is usual for scans.
        A.AutoContrast(cutoff=1, method="pil", p=1.0),
        A.CLAHE(clip_limit=(2.0, 2.0), tile_grid_size=(8, 8), p=1.0),
        # Last: CLAHE works on the L channel of LAB and rounds back to RGB unevenly.
        A.ToGray(num_output_channels=3, p=1.0),
    ]
    augment = [
        A.Affine(
            scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-10, 10), fill=fill, p=0.5
        ),
        A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
        A.RandomGamma(gamma_limit=(80, 120), p=0.3),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.2),
    ]
    return normalize, augment


def _document(fill: Fill) -> list:
    return [
        A.Affine(
            scale=(0.95, 1.05), translate_percent=(-0.02, 0.02), rotate=(-3, 3), fill=fill, p=0.5
        ),
        A.Perspective(scale=(0.02, 0.05), fill=fill, p=0.3),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 3)), A.MotionBlur(blur_limit=(3, 5))], p=0.2),
        A.ImageCompression(quality_range=(50, 95), p=0.3),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.2),
    ]


def _aerial(fill: Fill) -> list:
    return [
        A.D4(p=1.0),  # one of the 8 rotations by 90° / flips (vertical flips included)
        A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), fill=fill, p=0.3),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
        A.HueSaturationValue(hue_shift_limit=5, sat_shift_limit=10, val_shift_limit=5, p=0.3),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.GaussNoise(std_range=(0.02, 0.06))], p=0.2),
    ]


_RECIPES: dict[str, Callable[[Fill], Any]] = {
    "none": lambda fill: [],
    "light": _light,
    "medium": _medium,
    "heavy": _heavy,
    "grayscale_scan": _grayscale_scan,
    "document": _document,
    "aerial": _aerial,
}


def preset(
    name: str, size: int = 224, *, policy: str = "letterbox", fill: Fill = 0, **kw: Any
) -> Pipeline:
    """A ready-made :class:`Pipeline`: a strength level or a domain recipe.

    Args:
        name: One of :data:`PRESETS` (``"none"``, ``"light"``, ``"medium"``, ``"heavy"``)
            or :data:`DOMAIN_PRESETS` (``"grayscale_scan"``, ``"document"``, ``"aerial"``);
            :data:`PRESET_NOTES` says what each does. Presets with flips suit photos of
            objects, not text or digits (a mirrored 2 is no 2).
        size: Side of the square model input.
        policy: Resize policy (:data:`RESIZE_POLICIES`).
        fill: Letterbox pad colour, also used for the borders that affine moves uncover.
        **kw: ``mix`` (``"mixup"``/``"cutmix"``) and ``mix_alpha``, passed to
            :func:`make_pipeline`.

    Returns:
        The pipeline.

    Example:
        >>> p = preset("medium", 224, mix="mixup")
        >>> [type(t).__name__ for t in p.transforms][:2]
        ['HorizontalFlip', 'Affine']
    """
    if name not in _RECIPES:
        raise ValueError(f"unknown preset {name!r}; choose one of {[*PRESETS, *DOMAIN_PRESETS]}")
    unknown = set(kw) - {"mix", "mix_alpha"}
    if unknown:
        raise TypeError(f"preset() got unexpected keyword(s) {sorted(unknown)}")
    fill = check_fill(fill)
    recipe = _RECIPES[name](fill)
    normalize, transforms = recipe if isinstance(recipe, tuple) else ([], recipe)
    return make_pipeline(transforms, size, policy=policy, fill=fill, normalize=normalize, **kw)

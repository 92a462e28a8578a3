"""Resize policies: how an image of any shape becomes the model's square input.

One function builds the resize step everywhere (training, validation, export), so the
exported model is fed exactly what the trained one saw. The steps are plain albumentations
transforms, so they serialize with the rest of a pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2

__all__ = ["RESIZE_ALIASES", "RESIZE_POLICIES", "Fill", "resize_transform"]

#: ``"squish"``: the whole image, aspect ratio changed. ``"crop"``: shorter side to size,
#: then a centre crop (random position in training). ``"letterbox"``: longer side to size,
#: the rest padded with ``fill``: the whole image, undistorted.
RESIZE_POLICIES = ("squish", "crop", "letterbox")

#: Other names accepted for a policy: ``"pad"`` (the name fastai and earlier cvnb used) is
#: letterbox; its fill defaults to 0 like any letterbox.
RESIZE_ALIASES = {"pad": "letterbox"}

#: A pad colour: one 0-255 grey level, or an RGB triple.
Fill = int | tuple[int, int, int]


def canonical_policy(policy: str) -> str:
    """The policy's name in :data:`RESIZE_POLICIES` (aliases resolved)."""
    name = RESIZE_ALIASES.get(policy, policy) if isinstance(policy, str) else policy
    if name not in RESIZE_POLICIES:
        known = [*RESIZE_POLICIES, *RESIZE_ALIASES]
        raise ValueError(f"resize policy must be one of {known}, got {policy!r}")
    return name


def check_fill(fill: Any) -> Fill:
    """``fill`` as an int or an RGB tuple of ints in 0-255; ValueError otherwise."""
    if isinstance(fill, bool):
        raise ValueError(f"fill must be a 0-255 grey level or an RGB triple, got {fill!r}")
    if isinstance(fill, int | float) and float(fill).is_integer() and 0 <= fill <= 255:
        return int(fill)
    if (
        isinstance(fill, Sequence)
        and not isinstance(fill, str)
        and len(fill) == 3
        and all(
            isinstance(v, int | float) and float(v).is_integer() and 0 <= v <= 255 for v in fill
        )
    ):
        r, g, b = (int(v) for v in fill)
        return (r, g, b)
    raise ValueError(
        f"fill must be a 0-255 grey level (e.g. 0) or an RGB triple (e.g. (124, 116, 104)), "
        f"got {fill!r}"
    )


def check_size(size: Any) -> int:
    """``size`` as a positive int; ValueError otherwise."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int of at least 8 pixels, got {size!r}")
    return size


def resize_steps(
    size: int, policy: str = "letterbox", *, fill: Fill = 0, crop: str = "center"
) -> list[A.BasicTransform]:
    """The policy as a flat list of albumentations transforms (what pipelines hold).

    Args:
        size: Side of the square output, in pixels.
        policy: One of :data:`RESIZE_POLICIES` (or an alias, see :data:`RESIZE_ALIASES`).
        fill: Pad colour of ``"letterbox"``.
        crop: ``"center"`` or ``"random"``: where ``"crop"`` cuts (ignored by the others).
    """
    size, policy, fill = check_size(size), canonical_policy(policy), check_fill(fill)
    if crop not in ("center", "random"):
        raise ValueError(f"crop must be 'center' or 'random', got {crop!r}")
    # Linear interpolation when enlarging, INTER_AREA when shrinking: plain linear
    # shrinking skips pixels and aliases fine detail (PIL's BILINEAR filters; cv2's
    # INTER_LINEAR does not).
    scale = {"interpolation": cv2.INTER_LINEAR, "area_for_downscale": "image", "p": 1.0}
    if policy == "squish":
        return [A.Resize(size, size, **scale)]
    if policy == "crop":
        cut = A.CenterCrop if crop == "center" else A.RandomCrop
        return [A.SmallestMaxSize(max_size=size, **scale), cut(size, size, p=1.0)]
    return [
        A.LongestMaxSize(max_size=size, **scale),
        A.PadIfNeeded(
            min_height=size,
            min_width=size,
            position="center",
            border_mode=cv2.BORDER_CONSTANT,
            fill=fill,
            p=1.0,
        ),
    ]


def resize_transform(
    size: int, policy: str = "letterbox", *, fill: Fill = 0, crop: str = "center"
) -> A.BasicTransform | A.BaseCompose:
    """One albumentations transform that resizes any image to ``size`` × ``size``.

    ``"squish"`` resizes the whole image (aspect ratio changed); ``"crop"`` resizes the
    shorter side to ``size`` and cuts the square out of the middle (``crop="random"``: at a
    random position, for training); ``"letterbox"`` resizes the longer side to ``size`` and
    pads the rest with ``fill`` (the whole image, undistorted). Enlarging is linear,
    shrinking uses area averaging (no aliasing).

    Args:
        size: Side of the square output, in pixels.
        policy: One of :data:`RESIZE_POLICIES`; ``"pad"`` is an alias of ``"letterbox"``.
        fill: Pad colour of ``"letterbox"``: a 0-255 grey level or an RGB triple.
        crop: ``"center"`` (validation) or ``"random"`` (training) for ``"crop"``.

    Returns:
        ``A.Resize`` for squish, else an ``A.Sequential`` of two steps.

    Example:
        >>> import numpy as np
        >>> t = resize_transform(64, "letterbox", fill=114)
        >>> t(image=np.zeros((30, 60, 3), np.uint8))["image"].shape
        (64, 64, 3)
    """
    steps = resize_steps(size, policy, fill=fill, crop=crop)
    return steps[0] if len(steps) == 1 else A.Sequential(steps, p=1.0)

"""The input size a learner should train at: the backbone's own size for photos."""

from __future__ import annotations

import math

import pandas as pd

#: Smallest side chosen for small images (EfficientNet/ResNet reduce the input 32-fold).
MIN_SIDE = 48
#: Images whose median shorter side is at least this fraction of the backbone's native side
#: are photos for it: they train at the native side.
NATIVE_FRACTION = 0.25


def native_img_size(arch: str) -> int:
    """The square input side the backbone was pretrained at (timm's ``pretrained_cfg``).

    Args:
        arch: timm model name.

    Returns:
        The side in pixels (224 for ``tf_efficientnet_lite0``); 224 when timm has no config.
    """
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)
    size = getattr(cfg, "input_size", None) if cfg is not None else None
    return int(size[-1]) if size else 224


def default_img_size(df: pd.DataFrame, arch: str = "tf_efficientnet_lite0") -> int:
    """The input side :func:`cvnb.train.make_learner` uses when ``img_size`` is not given.

    Photos train at the backbone's native side (224 for EfficientNet-Lite0): its pretrained
    features are tuned to objects at that scale, and a smaller input throws that away even
    when the photos themselves are small. Measured (linear probe on EfficientNet-Lite0,
    squish resize, validation accuracy at 128 / 160 / 224 px): flowers 0.827 / 0.887 / 0.880,
    coco-crops (median shorter side 110 px) 0.667 / 0.711 / 0.733 — upsampling small crops to
    224 still pays; the issue's two-class photo set and clothing set gained more (fine-tuning
    at 128 px 0.863 and 0.777 against a 224 px probe's 0.954 and 0.817). The price is about
    3x the pixels of 128 px per image. Tiny images (median shorter side under a quarter of
    the native side, e.g. 8×8 digit scans) are not photos: they train near their own size,
    rounded up to a multiple of 16 and at least 48 px (digits: 48), which is accurate there
    (0.98) and many times faster.

    Args:
        df: Dataset table with ``width`` and ``height`` columns (from
            :func:`cvnb.data.load_images`); without them the native side is returned.
        arch: timm model name.

    Returns:
        The side in pixels.

    Example:
        >>> from cvnb.data import load_images
        >>> from cvnb.datasets import digits
        >>> default_img_size(load_images(digits()))  # 8x8 scans
        48
    """
    native = native_img_size(arch)
    if not {"width", "height"} <= set(df.columns):
        return native
    if "error" in df.columns:
        df = df[df["error"].isna().to_numpy()]
    sides = df[["width", "height"]].min(axis=1).dropna()
    if sides.empty:
        return native
    median = float(sides.median())
    if median >= NATIVE_FRACTION * native:
        return native
    return int(min(native, max(MIN_SIDE, 16 * math.ceil(median / 16))))

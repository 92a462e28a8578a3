"""Batch-level mixing (MixUp, CutMix): settings, and a numpy preview of what fastai does.

Training uses fastai's own ``MixUp`` / ``CutMix`` callbacks (``fastai.callback.mixup``);
:func:`mix_images` repeats their arithmetic on a few images so a notebook or the explorer
can show it without a model or a batch of tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MIX_MODES", "check_mix", "mix_images"]

#: Batch-level mixing modes (None switches mixing off).
MIX_MODES = ("mixup", "cutmix")


def check_mix(mix: str | None, mix_alpha: float) -> tuple[str | None, float]:
    """Validated ``(mix, mix_alpha)``; ``"none"`` means None."""
    if mix == "none":
        mix = None
    if mix is not None and mix not in MIX_MODES:
        raise ValueError(f"mix must be one of {[*MIX_MODES, None]}, got {mix!r}")
    if isinstance(mix_alpha, bool) or not isinstance(mix_alpha, int | float):
        raise ValueError(f"mix_alpha must be a positive number, got {mix_alpha!r}")
    if not (math.isfinite(mix_alpha) and mix_alpha > 0):
        raise ValueError(f"mix_alpha must be a positive number, got {mix_alpha!r}")
    return mix, float(mix_alpha)


def mix_images(
    images: Sequence[np.ndarray], mix: str, *, alpha: float = 0.4, seed: int = 0
) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Mix a batch of same-sized images as fastai's ``MixUp`` / ``CutMix`` callbacks do.

    MixUp: each image ``i`` draws λ ~ Beta(α, α), keeps ``max(λ, 1 − λ)`` and becomes
    ``λ·x_i + (1 − λ)·x_j`` with ``j`` from a random permutation. CutMix: one λ for the
    batch; a box of ``√(1 − λ)`` of each side, centred at a random point and clipped to the
    image, is pasted from ``x_j``; λ becomes the uncovered share of the image.

    Args:
        images: ``uint8`` arrays of one shape ``(H, W, 3)``.
        mix: ``"mixup"`` or ``"cutmix"``.
        alpha: α of the Beta distribution.
        seed: Seed of λ, the permutation and the box.

    Returns:
        ``[(image, info), …]`` with ``info = {"mix", "lam", "partner"}`` (+ ``"box"``
        ``(x1, y1, x2, y2)`` for CutMix); ``lam`` is the weight of the image's own label.
    """
    mix, alpha = check_mix(mix, alpha)
    if mix is None:
        raise ValueError("mix_images needs mix='mixup' or 'cutmix'")
    if not images:
        return []
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise ValueError(f"images must share one shape to be mixed, got {sorted(shapes)}")
    rng = np.random.default_rng(seed)
    batch = np.stack(images).astype(np.float32)
    n, height, width = batch.shape[:3]
    partner = rng.permutation(n)
    out = []
    if mix == "mixup":
        lam = rng.beta(alpha, alpha, size=n)
        lam = np.maximum(lam, 1 - lam)
        for i in range(n):
            mixed = lam[i] * batch[i] + (1 - lam[i]) * batch[partner[i]]
            info = {"mix": mix, "lam": float(lam[i]), "partner": int(partner[i])}
            out.append((_to_uint8(mixed), info))
        return out
    lam = float(rng.beta(alpha, alpha))
    cut = math.sqrt(1.0 - lam)
    cut_w, cut_h = round(width * cut), round(height * cut)
    cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
    x1, x2 = np.clip([cx - cut_w // 2, cx + cut_w // 2], 0, width)
    y1, y2 = np.clip([cy - cut_h // 2, cy + cut_h // 2], 0, height)
    kept = 1.0 - (x2 - x1) * (y2 - y1) / float(width * height)
    for i in range(n):
        mixed = batch[i].copy()
        mixed[y1:y2, x1:x2] = batch[partner[i], y1:y2, x1:x2]
        info = {
            "mix": mix,
            "lam": kept,
            "partner": int(partner[i]),
            "box": (int(x1), int(y1), int(x2), int(y2)),
        }
        out.append((_to_uint8(mixed), info))
    return out


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)

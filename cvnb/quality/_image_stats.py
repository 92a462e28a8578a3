"""Per-image statistics from decoded pixels, and the issue scores made from them.

:func:`image_stats` measures one image (brightness percentiles, sharpness, entropy,
colourfulness, size); :func:`stat_scores` turns a whole set's measurements into the scores of
``dark``, ``bright``, ``blurry``, ``low_information``, ``odd_size``, ``odd_aspect`` and
``grayscale``, some absolute and some relative to the set (see each function). The dataset
level ``class_imbalance`` is here too. Pure numpy/OpenCV; cleanvision's issue definitions
were the model, written anew (cleanvision pins old dependencies and computes its blur score
with PIL's edge filter at 64 px).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

__all__ = [
    "STATS_VERSION",
    "STAT_COLUMNS",
    "WORK_SIZE",
    "class_imbalance",
    "image_stats",
    "robust_deviation",
    "stat_scores",
    "working_copy",
]

#: Bump when a measurement changes: cached statistics of another version are recomputed.
STATS_VERSION = "stats-v4"
#: What :func:`image_stats` returns, in this order.
STAT_COLUMNS = (
    "width",
    "height",
    "luma_p5",
    "luma_p99",
    "sharpness",
    "entropy",
    "colourfulness",
)
#: Statistics are measured on the image shrunk to at most this many pixels on its longer side
#: (never enlarged), so that sharpness means the same for a 4000 px photo and a 300 px one:
#: blur is judged at the scale a person looks at a thumbnail.
WORK_SIZE = 256

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601
_MIN_RANGE = 0.05  # intensity range (of 1) below which an image has no edges to judge
_MIN_SIDE = 16  # pixels: a smaller image has no room for an edge's width to be measured
_HALF_SIGMAS = 3.0  # relative scores halve every this many robust standard deviations


def working_copy(image: Image.Image, size: int = WORK_SIZE) -> Image.Image:
    """``image`` shrunk (aspect kept, antialiased) so its longer side is at most ``size``."""
    w, h = image.size
    scale = size / max(w, h)
    if scale >= 1:
        return image
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(new, Image.Resampling.BILINEAR, reducing_gap=2.0)


def image_stats(image: Image.Image) -> dict[str, float]:
    """Measure one decoded RGB image (at :data:`WORK_SIZE`, see :func:`working_copy`).

    Returns:
        A dict with the keys of :data:`STAT_COLUMNS`:

        - ``width``, ``height``: the image's own size in pixels.
        - ``luma_p5``, ``luma_p99``: 5th and 99th percentiles of the luma (BT.601
          ``0.299 R + 0.587 G + 0.114 B``, scaled to [0, 1]).
        - ``sharpness``: the 99th percentile of the luma's gradient magnitude (Sobel, per
          pixel, at :data:`WORK_SIZE`) divided by the luma's 1–99 % range; NaN when that
          range is below 0.05 (no edges to judge) or the image is under 16 px (no room to
          measure an edge's width). An edge smeared over ``w`` pixels gives about ``1 /
          w`` (a crisp one about 0.5, Sobel's limit), whatever the contrast or brightness.
        - ``entropy``: Shannon entropy (bits) of the 256-bin histogram of the R, G or B
          channel, whichever has most (a two-colour image of equal luma is not blank).
        - ``colourfulness``: mean over pixels of ``max(R, G, B) - min(R, G, B)``, in [0, 1].
    """
    import cv2  # OpenCV (installed with albumentations); lazy so the module imports fast

    rgb = image if image.mode == "RGB" else image.convert("RGB")
    pixels = np.asarray(working_copy(rgb), dtype=np.uint8)
    small = pixels.astype(np.float32) / 255.0
    luma = small @ _LUMA
    p1, p5, p99 = (float(v) for v in np.percentile(luma, [1, 5, 99]))
    # Not the variance of the Laplacian: measured on digits upscaled 4x (smooth to begin
    # with) and real COCO crops, the Laplacian variance (raw, or divided by the luma's
    # variance or range) separated Gaussian-blurred copies from the clean set far worse
    # (recall 0.5-0.8 vs 1.0 at the same false-positive rate) than this edge-width measure.
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    spread = p99 - p1
    # Gradient per intensity range ≈ 1 / edge width in pixels, at the working size: large
    # images are judged at a common viewing scale, and an enlarged small image is soft at
    # its own resolution (it looks blurry), as it should be.
    judged = spread >= _MIN_RANGE and max(luma.shape) >= _MIN_SIDE
    sharp = float(np.percentile(np.hypot(gx, gy), 99)) / spread if judged else np.nan
    # Per channel, not of the luma alone: ink and paper of different colours but equal luma
    # would look blank to a luma histogram.
    levels = pixels.reshape(-1, 3)
    entropy = max(_entropy(levels[:, c]) for c in range(3))
    colour = float((small.max(axis=2) - small.min(axis=2)).mean())
    w, h = image.size
    return {
        "width": float(w),
        "height": float(h),
        "luma_p5": p5,
        "luma_p99": p99,
        "sharpness": sharp,
        "entropy": entropy,
        "colourfulness": colour,
    }


def _entropy(values: np.ndarray) -> float:
    """Shannon entropy (bits) of the 256-bin histogram of uint8 values."""
    hist = np.bincount(values, minlength=256).astype(np.float64)
    p = hist[hist > 0] / len(values)
    return float(-(p * np.log2(p)).sum())


def robust_deviation(x: np.ndarray, floor: float) -> np.ndarray:
    """Signed robust z-scores: ``(x - median) / max(1.4826 · MAD, floor)`` over finite ``x``.

    The MAD (median absolute deviation) is scaled to a standard deviation for normal data;
    a few extreme values cannot inflate it. ``floor`` keeps a set whose values are nearly
    all equal (every image 32×32) from turning tiny differences into huge deviations.
    NaN stays NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    finite = x[np.isfinite(x)]
    if not len(finite):
        return np.full_like(x, np.nan)
    med = float(np.median(finite))
    mad = 1.4826 * float(np.median(np.abs(finite - med)))
    return (x - med) / max(mad, floor)


def _halving(deviation: np.ndarray) -> np.ndarray:
    """1 at or inside the typical range, halving every :data:`_HALF_SIGMAS` deviations."""
    return np.power(0.5, np.maximum(deviation, 0.0) / _HALF_SIGMAS)


def stat_scores(
    stats: pd.DataFrame, thresholds: dict[str, float]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Scores in [0, 1] (lower is worse) from the statistics of every readable image.

    Args:
        stats: One row per readable image, columns :data:`STAT_COLUMNS`.
        thresholds: Needs ``grayscale`` (the score below which an image counts as grey)
            and ``grayscale_colour_share``.

    Returns:
        ``(scores, info)``: a DataFrame with the same index and columns ``dark_score``,
        ``bright_score``, ``blurry_score``, ``low_information_score``, ``odd_size_score``,
        ``odd_aspect_score``, ``grayscale_score``; and a dict of dataset-level facts
        (medians used, the share of colour images, whether grayscale applies).

    The scores (``d`` is a robust deviation from :func:`robust_deviation`, in robust
    standard deviations; relative scores are ``0.5 ** (d / 3)``, so 0.5 at three and 0.25
    at six deviations):

    - ``dark = luma_p99``: even the brightest 1 % of pixels are dark when it is low.
    - ``bright = 1 - luma_p5``: even the darkest 5 % of pixels are bright when it is low.
    - ``blurry = min(relative, absolute)``: ``relative = 0.5 ** (d / 3)`` with ``d`` how
      many deviations ``log(sharpness)`` lies *below* the set's median (floor 0.05, about
      5 % sharper or softer per deviation); ``absolute = min(1, sharpness / 0.1)``, which
      flags (below 0.4) an image whose sharpest edges are smeared over 25 px or more at
      :data:`WORK_SIZE`, even in a set that is blurry throughout. NaN when the image has no
      edges (``sharpness`` NaN).
    - ``low_information = entropy / min(8, log2(pixels))``: 8 bits is a histogram using all
      256 levels evenly; an image of fewer than 256 pixels can hold only ``log2(pixels)``.
    - ``odd_size = 0.5 ** (d / 3)`` with ``d`` the deviation of ``log(width · height)``
      either way (floor 0.25: a quarter more or fewer pixels per deviation).
    - ``odd_aspect = 0.5 ** (d / 3)`` for ``log(width / height)`` (floor 0.1).
    - ``grayscale = min(1, 10 · colourfulness)``: 0 for grey pixels, 1 from a mean chroma of
      0.1 up. It applies only when the set is mainly colour: when fewer than
      ``grayscale_colour_share`` of the images have ``grayscale_score >= thresholds
      ["grayscale"]``, every ``grayscale_score`` is NaN (grey is normal there).
    """
    out = pd.DataFrame(index=stats.index)
    out["dark_score"] = stats["luma_p99"].clip(0, 1)
    out["bright_score"] = (1.0 - stats["luma_p5"]).clip(0, 1)

    sharp = stats["sharpness"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_sharp = np.log(np.where(sharp > 0, sharp, np.nan))
    softer = -robust_deviation(log_sharp, 0.05)
    relative = _halving(softer)
    absolute = np.minimum(1.0, sharp / 0.1)
    blurry = np.minimum(relative, absolute)
    blurry[~np.isfinite(sharp)] = np.nan
    out["blurry_score"] = np.clip(blurry, 0, 1)

    # A tiny image cannot hold 8 bits: 64 pixels carry at most 6.
    most = np.minimum(8.0, np.log2(np.maximum(stats["width"] * stats["height"], 2.0)))
    out["low_information_score"] = (stats["entropy"] / most).clip(0, 1) + 0.0  # no -0.0

    w, h = stats["width"].to_numpy(float), stats["height"].to_numpy(float)
    out["odd_size_score"] = _halving(np.abs(robust_deviation(np.log(w * h), 0.25)))
    out["odd_aspect_score"] = _halving(np.abs(robust_deviation(np.log(w / h), 0.1)))

    grey = np.clip(10.0 * stats["colourfulness"].to_numpy(float), 0, 1)
    colour_share = float((grey >= thresholds["grayscale"]).mean()) if len(grey) else 0.0
    applies = colour_share >= thresholds["grayscale_colour_share"]
    out["grayscale_score"] = grey if applies else np.nan
    info = {
        "colour_share": colour_share,
        "grayscale_applies": bool(applies),
        "median_width": float(np.median(w)) if len(w) else None,
        "median_height": float(np.median(h)) if len(h) else None,
        "median_sharpness": float(np.nanmedian(sharp)) if np.isfinite(sharp).any() else None,
    }
    return out, info


def class_imbalance(labels: pd.Series, threshold: float) -> pd.DataFrame:
    """The dataset-level ``class_imbalance`` row: smallest class count / largest.

    Args:
        labels: One label per image; missing labels are ignored.
        threshold: Flag when the score is below it (0.2: the largest class has more than five
            times the images of the smallest).

    Returns:
        A one-row DataFrame, index ``class_imbalance``, columns ``score`` (NaN with fewer
        than two classes), ``is_issue`` and ``detail``.
    """
    counts = labels.dropna().astype(str).value_counts()
    if len(counts) < 2:
        score, detail = np.nan, f"{len(counts)} class(es): nothing to compare"
    else:
        small, large = counts.idxmin(), counts.idxmax()
        score = float(counts.min() / counts.max())
        detail = (
            f"smallest class {small!r} has {counts.min()} images, largest {large!r} has "
            f"{counts.max()}"
        )
    frame = pd.DataFrame(
        {"score": [score], "is_issue": [bool(score < threshold)], "detail": [detail]},
        index=pd.Index(["class_imbalance"], name="issue"),
    )
    return frame

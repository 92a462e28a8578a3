"""How much each resize policy costs on a dataset's aspect ratios, and which to pick.

All three policies pay for the same mismatch, ``r = short side / long side``: a centre
crop cuts ``1 − r`` of the image's area, letterbox fills ``1 − r`` of the canvas with
padding, squish stretches the aspect ratio by a factor ``1 / r``. What differs is what the
model loses: content (crop), resolution (letterbox) or shape fidelity (squish), and whether
the loss is the same for every image.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._resize import RESIZE_POLICIES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AspectAudit", "audit_aspect"]

_MEASURES = {
    "squish": "aspect distortion (factor − 1)",
    "crop": "fraction of area cut",
    "letterbox": "fraction of canvas padded",
}


@dataclass(eq=False)
class AspectAudit:
    """The result of :func:`audit_aspect`.

    Attributes:
        table: One row per policy (index ``squish``, ``crop``, ``letterbox``) with columns
            ``measure`` (what is counted), ``median``, ``max``, ``over_5pct``,
            ``over_20pct`` (images whose measure exceeds 0.05 / 0.20) and
            ``share_over_20pct``.
        recommended: The recommended policy.
        reason: Why, in one or two sentences with the numbers.
        aspect: Per-image width / height of the images audited (index as in the table).
        size: The model input side the audit was made for.
        n_images: Images audited; ``n_skipped``: rows without a readable size.
        n_upscaled: Images whose shorter side is below ``size`` (they get enlarged).
    """

    table: pd.DataFrame
    recommended: str
    reason: str
    aspect: pd.Series
    size: int
    n_images: int
    n_skipped: int
    n_upscaled: int

    def plot(self, *, figsize: tuple[float, float] = (11.0, 3.6)) -> Figure:
        """Histogram of aspect ratios, and images losing > 5% / > 20% under each policy."""
        from matplotlib.figure import Figure  # lazy: keeps the import cheap

        fig = Figure(figsize=figsize, layout="constrained")
        ax_hist, ax_bars = fig.subplots(1, 2)
        ratios = self.aspect.to_numpy(dtype=float)
        lo, hi = min(ratios.min(), 0.5), max(ratios.max(), 2.0)
        ax_hist.hist(ratios, bins=np.geomspace(lo, hi, 40))
        ax_hist.set_xscale("log")
        ax_hist.axvline(1.0, color="grey", linestyle=":", linewidth=1)
        ax_hist.axvline(float(np.median(ratios)), color="C1", linewidth=1.5, label="median")
        ax_hist.legend()
        ax_hist.set(title="Aspect ratio (width / height)", xlabel="width / height", ylabel="images")
        x = np.arange(len(self.table))
        ax_bars.bar(x - 0.2, self.table["over_5pct"], width=0.4, label="> 5%")
        ax_bars.bar(x + 0.2, self.table["over_20pct"], width=0.4, label="> 20%")
        ax_bars.set_xticks(x, [f"{p}\n{_MEASURES[p]}" for p in self.table.index], fontsize=8)
        ax_bars.legend(title="images with")
        ax_bars.set(title=f"Cost per policy at {self.size} px (recommended: {self.recommended})")
        return fig

    def _repr_html_(self) -> str:
        return (
            f"<div class='cvnb-aspect'><p><b>Recommended: {html.escape(self.recommended)}</b>"
            f" — {html.escape(self.reason)}</p>{self.table.round(3).to_html()}</div>"
        )

    def __repr__(self) -> str:
        return f"<AspectAudit of {self.n_images} images: recommended {self.recommended!r}>"


def audit_aspect(df: pd.DataFrame, size: int = 224) -> AspectAudit:
    """Measure what each resize policy does to a dataset, and recommend one.

    Reads ``width`` and ``height`` from the table (:func:`cvnb.data.load_images` fills
    them); rows with an ``error`` or without a size are skipped.

    The recommendation: **squish** when nearly every image is square, or when the aspect
    ratios are all alike (then every image is stretched the same way, which a model learns
    once; nothing is cut and no pixel is wasted); **crop** when ratios vary but few images
    would lose more than 20% of their area; **letterbox** otherwise (varied ratios where a
    crop would cut many images hard: keep everything, undistorted, at some resolution).

    Args:
        df: The dataset table.
        size: The model's square input side (counts images that get enlarged).

    Returns:
        An :class:`AspectAudit`.

    Raises:
        ValueError: No ``width``/``height`` columns, or no row with a readable size.

    Example:
        >>> audit = audit_aspect(load_images("data/pets"))  # doctest: +SKIP
        >>> audit.recommended, audit.reason  # doctest: +SKIP
    """
    if not {"width", "height"} <= set(df.columns):
        raise ValueError(
            "audit_aspect needs width and height columns: load the table with "
            "cvnb.data.load_images(..., check=True) (the default), which measures every image"
        )
    width = pd.to_numeric(df["width"], errors="coerce").astype(float)
    height = pd.to_numeric(df["height"], errors="coerce").astype(float)
    ok = width.gt(0) & height.gt(0)
    if "error" in df.columns:
        ok &= df["error"].isna()
    if not ok.any():
        raise ValueError("no image in the table has a readable width and height")
    w, h = width[ok], height[ok]
    short, long = np.minimum(w, h), np.maximum(w, h)
    ratio = short / long
    costs = {"squish": 1 / ratio - 1, "crop": 1 - ratio, "letterbox": 1 - ratio}
    rows = []
    for policy in RESIZE_POLICIES:
        cost = costs[policy]
        rows.append(
            {
                "policy": policy,
                "measure": _MEASURES[policy],
                "median": float(cost.median()),
                "max": float(cost.max()),
                "over_5pct": int((cost > 0.05).sum()),
                "over_20pct": int((cost > 0.20).sum()),
                "share_over_20pct": float((cost > 0.20).mean()),
            }
        )
    table = pd.DataFrame(rows).set_index("policy")
    aspect = (w / h).rename("aspect")
    recommended, reason = _recommend(aspect, table)
    return AspectAudit(
        table=table,
        recommended=recommended,
        reason=reason,
        aspect=aspect,
        size=size,
        n_images=int(ok.sum()),
        n_skipped=int((~ok).sum()),
        n_upscaled=int((short < size).sum()),
    )


def _recommend(aspect: pd.Series, table: pd.DataFrame) -> tuple[str, str]:
    n = len(aspect)
    ratio = np.minimum(aspect, 1 / aspect)
    near_square = float((ratio >= 0.95).mean())
    median = float(aspect.median())
    # "Alike": 90% of images within 10% of the median aspect ratio.
    alike = float((np.abs(np.log(aspect / median)) <= np.log(1.1)).mean())
    crop_hard = table.loc["crop", "share_over_20pct"]
    pad_mean = float((1 - ratio).mean())
    if near_square >= 0.95:
        return "squish", (
            f"{near_square:.0%} of the {n} images are within 5% of square: squish changes "
            "almost nothing, keeps every pixel and wastes none on padding"
        )
    if alike >= 0.9:
        return "squish", (
            f"{alike:.0%} of the images share one aspect ratio (median width/height "
            f"{median:.2f}): squish stretches them all alike, which the model learns once, "
            f"and cuts nothing (crop would cut {table.loc['crop', 'median']:.0%} of a typical "
            f"image, letterbox would pad {table.loc['letterbox', 'median']:.0%} of its canvas)"
        )
    if crop_hard <= 0.10:
        return "crop", (
            f"aspect ratios vary, but only {crop_hard:.0%} of the images would lose more than "
            "20% of their area to a centre crop: crop keeps full resolution without "
            "distortion, and random crop positions in training add a little augmentation"
        )
    return "letterbox", (
        f"aspect ratios vary and a centre crop would cut more than 20% of the area of "
        f"{crop_hard:.0%} of the images (squish would stretch them unevenly): letterbox keeps "
        f"every image whole and undistorted, at the cost of {pad_mean:.0%} padding on average"
    )

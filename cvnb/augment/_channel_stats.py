"""Per-channel statistics of a dataset, compared with what the backbone was trained on."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ._resize import Fill, resize_steps

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DatasetStats", "dataset_stats"]

# ImageNet's RGB statistics in [0, 1], the reference when a backbone's mean/std are a plain
# range mapping (0.5/0.5: [0, 1] → [-1, 1], TF style) rather than data statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CHANNELS = ("R", "G", "B")


@dataclass(eq=False)
class DatasetStats:
    """The result of :func:`dataset_stats`; all values are for RGB scaled to [0, 1].

    Attributes:
        mean, std: Per-channel (R, G, B) mean and standard deviation over all pixels of the
            sampled images, after the resize policy.
        backbone: The timm model name compared with (None: no comparison).
        backbone_mean, backbone_std: The backbone's own normalization (timm
            ``pretrained_cfg``); for Lite0 0.5/0.5.
        reference_mean, reference_std: What the data is compared with: the backbone's
            statistics, or ImageNet's when the backbone's are the 0.5/0.5 range mapping.
        gray_share: Fraction of sampled images whose three channels are equal (±2 levels).
        n_images, size, policy: What was measured.
        advice: What to do about it, in a few sentences.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    backbone: str | None
    backbone_mean: tuple[float, ...] | None
    backbone_std: tuple[float, ...] | None
    reference_mean: tuple[float, ...] | None
    reference_std: tuple[float, ...] | None
    gray_share: float
    n_images: int
    size: int
    policy: str
    advice: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def plot(self, *, figsize: tuple[float, float] = (9.0, 3.4)) -> Figure:
        """Per-channel mean and std: this dataset beside the reference (backbone/ImageNet)."""
        from matplotlib.figure import Figure  # lazy: keeps the import cheap

        fig = Figure(figsize=figsize, layout="constrained")
        x = np.arange(3)
        for ax, ours, ref, title in zip(
            fig.subplots(1, 2),
            (self.mean, self.std),
            (self.reference_mean, self.reference_std),
            ("mean", "std"),
            strict=True,
        ):
            ax.bar(x - 0.2, ours, width=0.4, label="this dataset", color=["C3", "C2", "C0"])
            if ref is not None:
                ax.bar(x + 0.2, ref, width=0.4, label=self._reference_name(), color="lightgrey")
            ax.set_xticks(x, _CHANNELS)
            ax.set(
                title=f"Per-channel {title} ([0, 1] scale)", ylim=(0, 1 if title == "mean" else 0.5)
            )
            ax.legend(fontsize=8)
        return fig

    def _reference_name(self) -> str:
        if self.reference_mean is None:
            return "none"
        if self.reference_mean == self.backbone_mean:
            return str(self.backbone)
        return "ImageNet"

    def _repr_html_(self) -> str:
        rows = {"this dataset": (*self.mean, *self.std)}
        if self.reference_mean is not None:
            rows[self._reference_name()] = (*self.reference_mean, *self.reference_std)
        cols = pd.MultiIndex.from_product([["mean", "std"], _CHANNELS])
        table = pd.DataFrame(list(rows.values()), index=list(rows), columns=cols).round(3)
        return (
            f"<div class='cvnb-stats'><p>{self.n_images} images at {self.size} px "
            f"({html.escape(self.policy)})</p>{table.to_html()}"
            f"<p>{html.escape(self.advice)}</p></div>"
        )


def dataset_stats(
    df: pd.DataFrame,
    *,
    max_images: int = 500,
    seed: int = 0,
    backbone: str | None = "tf_efficientnet_lite0",
    size: int = 224,
    policy: str = "letterbox",
    fill: Fill = 0,
    progress: bool = True,
) -> DatasetStats:
    """Per-channel mean/std of the training images, versus the backbone's normalization.

    A seeded sample of up to ``max_images`` readable images (``split == "train"`` when the
    table has any) is read with :func:`cvnb.data.read_image`, resized with the policy the
    model will see, and reduced to per-channel statistics over all pixels.

    Args:
        df: The dataset table (``path``, optionally ``split`` and ``error``).
        max_images: Sample size cap.
        seed: Seed of the sample.
        backbone: timm model name whose ``pretrained_cfg`` mean/std to compare with (None:
            no comparison). Needs no weights and no network.
        size, policy, fill: The resize policy applied before measuring.
        progress: Show a progress bar.

    Returns:
        A :class:`DatasetStats`.

    Example:
        >>> stats = dataset_stats(load_images(digits()), max_images=200)  # doctest: +SKIP
        >>> stats.mean, stats.advice  # doctest: +SKIP
    """
    from cvnb.data import read_image

    rows = df
    if "error" in rows.columns:
        rows = rows[rows["error"].isna()]
    if "split" in rows.columns and (rows["split"] == "train").any():
        rows = rows[rows["split"] == "train"]
    if rows.empty:
        raise ValueError("no readable images in the table to measure")
    if max_images < 1:
        raise ValueError(f"max_images must be at least 1, got {max_images}")
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(rows), size=min(max_images, len(rows)), replace=False))
    steps = resize_steps(size, policy, fill=fill)
    total = np.zeros(3)
    squares = np.zeros(3)
    gray = 0
    for path in tqdm(rows["path"].iloc[picked], desc="dataset stats", disable=not progress):
        image = np.asarray(read_image(path))
        for step in steps:
            image = step(image=image)["image"]
        x = image.reshape(-1, 3).astype(np.float64) / 255.0
        total += x.sum(axis=0)
        squares += (x * x).sum(axis=0)
        spread = image.max(axis=2).astype(np.int16) - image.min(axis=2)
        gray += int(spread.max() <= 2)
    pixels = len(picked) * size * size
    mean = total / pixels
    std = np.sqrt(np.maximum(squares / pixels - mean**2, 0.0))
    b_mean, b_std = _backbone_stats(backbone)
    ref_mean, ref_std = b_mean, b_std
    if b_mean is not None and _is_range_mapping(b_mean, b_std):
        ref_mean, ref_std = IMAGENET_MEAN, IMAGENET_STD
    m, s = _triple(mean), _triple(std)
    gray_share = gray / len(picked)
    return DatasetStats(
        mean=m,
        std=s,
        backbone=backbone,
        backbone_mean=b_mean,
        backbone_std=b_std,
        reference_mean=ref_mean,
        reference_std=ref_std,
        gray_share=gray_share,
        n_images=len(picked),
        size=size,
        policy=policy,
        advice=_advice(m, s, ref_mean, ref_std, backbone, b_mean, b_std, gray_share),
    )


def _triple(values: np.ndarray) -> tuple[float, float, float]:
    a, b, c = (round(float(v), 4) for v in values)
    return (a, b, c)


def _is_range_mapping(mean: tuple[float, ...], std: tuple[float, ...] | None) -> bool:
    return std is not None and all(abs(v - 0.5) < 1e-6 for v in (*mean, *std))


def _backbone_stats(backbone: str | None) -> tuple[tuple | None, tuple | None]:
    if backbone is None:
        return None, None
    import timm  # lazy: only the config is read, no model is built

    cfg = timm.get_pretrained_cfg(backbone)
    if cfg is None:
        raise ValueError(
            f"timm has no model named {backbone!r}; use a name from timm.list_models() "
            "or backbone=None to skip the comparison"
        )
    mean = tuple(float(v) for v in (cfg.mean or IMAGENET_MEAN))
    std = tuple(float(v) for v in (cfg.std or IMAGENET_STD))
    return mean, std


def _advice(mean, std, ref_mean, ref_std, backbone, b_mean, b_std, gray_share) -> str:
    notes = []
    if gray_share >= 0.9:
        notes.append(
            f"{gray_share:.0%} of the images are grey (R = G = B): the 'grayscale_scan' preset "
            "(autocontrast + CLAHE, no colour jitter) fits such data; an RGB backbone works on "
            "the repeated channels."
        )
    if ref_mean is None:
        return " ".join(notes) or "No backbone given: nothing to compare with."
    shift = max(abs(a - b) for a, b in zip(mean, ref_mean, strict=True))
    ratio = float(np.mean(std) / np.mean(ref_std))
    if b_mean is not None and _is_range_mapping(b_mean, b_std):
        notes.append(
            f"{backbone} normalizes with mean = std = 0.5 (a mapping of [0, 1] to [-1, 1]), "
            "so the data is compared with ImageNet's statistics."
        )
    if shift <= 0.1 and 2 / 3 <= ratio <= 1.5:
        notes.append(
            "The images are close to the pretraining data: keep the backbone's normalization "
            "(make_learner uses it)."
        )
        return " ".join(notes)
    what = []
    if shift > 0.1:
        what.append("darker" if np.mean(mean) < np.mean(ref_mean) else "brighter")
    if ratio < 2 / 3:
        what.append("lower in contrast")
    elif ratio > 1.5:
        what.append("higher in contrast")
    if not what:
        what.append("differently coloured")
    notes.append(
        f"The images are {' and '.join(what)} than the pretraining data (mean "
        f"{_fmt(mean)} vs {_fmt(ref_mean)}, std {_fmt(std)} vs {_fmt(ref_std)}). For "
        "fine-tuning a pretrained backbone keep its normalization: its weights expect it and "
        "the first layers adapt. When training from scratch, normalize with these statistics."
    )
    if ratio < 2 / 3:
        notes.append(
            "Low contrast: per-image intensity normalization (AutoContrast/CLAHE, as in the "
            "'grayscale_scan' preset) often helps more than any global statistics."
        )
    return " ".join(notes)


def _fmt(values) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in values) + ")"

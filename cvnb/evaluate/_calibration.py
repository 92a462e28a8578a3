"""Calibration: do the model's probabilities mean what they say? ECE and a reliability plot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._logits import softmax, split_items, split_logits, temperature_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class CalibrationReport:
    """Top-label calibration of a learner's probabilities on one split.

    Attributes:
        ece: Expected calibration error: the count-weighted mean of ``|accuracy -
            confidence|`` over equal-width confidence bins (0 = calibrated).
        mce: Maximum calibration error: the largest gap of any non-empty bin.
        table: One row per bin: ``lo``, ``hi`` (the bin covers ``(lo, hi]``),
            ``confidence`` (mean top-1 probability), ``accuracy``, ``count`` (NaN
            confidence/accuracy where a bin is empty); the counts sum to :attr:`n`.
        temperature: The temperature the probabilities were computed with.
        split: Which split was measured (``"valid"``, ``"train"``, ``"test"`` …).
        n: Images measured.
        accuracy: Top-1 accuracy over them.
        nll: Mean negative log-likelihood of the true class.
    """

    ece: float
    mce: float
    table: pd.DataFrame
    temperature: float
    split: str
    n: int
    accuracy: float
    nll: float

    def plot(self) -> Figure:
        """A reliability diagram: accuracy per confidence bin against the diagonal.

        The top panel shows each bin's accuracy as a bar, the gap to its mean confidence
        shaded, and the diagonal a calibrated model follows; the bottom panel shows how many
        images fall in each bin. Returns a new Figure (not attached to pyplot).
        """
        from matplotlib.figure import Figure  # lazy: keeps `import cvnb.evaluate` cheap

        fig = Figure(figsize=(5.0, 5.5), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        t = self.table
        width = float(t["hi"].iloc[0] - t["lo"].iloc[0])
        centre = ((t["lo"] + t["hi"]) / 2).to_numpy()
        full = t["count"].to_numpy() > 0
        acc, conf = t["accuracy"].to_numpy(), t["confidence"].to_numpy()
        top.bar(
            centre[full],
            acc[full],
            width=width,
            color="#4c72b0",
            edgecolor="white",
            label="accuracy",
        )
        gap_lo = np.minimum(acc, conf)[full]
        top.bar(
            centre[full],
            np.abs(acc - conf)[full],
            bottom=gap_lo,
            width=width,
            color="#dd8452",
            alpha=0.45,
            edgecolor="#dd8452",
            hatch="//",
            label="gap to confidence",
        )
        top.plot([0, 1], [0, 1], "--", color="0.4", label="calibrated")
        top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
        top.set_title(
            f"Reliability on {self.split} (n={self.n}): ECE {self.ece:.1%}, "
            f"MCE {self.mce:.1%}, T={self.temperature:.3g}",
            fontsize="medium",
        )
        top.legend(loc="upper left", fontsize="small")
        bottom.bar(centre, t["count"].to_numpy(), width=width, color="0.55", edgecolor="white")
        bottom.set(xlabel="confidence (top-1 probability)", ylabel="images")
        return fig


def calibration_table(
    probs: np.ndarray, labels: np.ndarray, *, bins: int = 15
) -> tuple[float, float, pd.DataFrame]:
    """Top-label ECE, MCE and the per-bin table of probabilities against true labels.

    Equal-width bins over [0, 1]; bin ``i`` holds the confidences in
    ``(i / bins, (i + 1) / bins]`` (the first one also holds 0).

    Args:
        probs: ``(N, n_classes)`` probabilities.
        labels: ``(N,)`` true class indices.
        bins: Number of confidence bins.

    Returns:
        ``(ece, mce, table)`` as in :class:`CalibrationReport`.
    """
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise ValueError(
            f"probs must be (N, n_classes) and labels (N,), got {probs.shape} and {labels.shape}"
        )
    if bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins}")
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    index = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=conf, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
    edges = np.linspace(0.0, 1.0, bins + 1)
    table = pd.DataFrame(
        {
            "lo": edges[:-1],
            "hi": edges[1:],
            "confidence": mean_conf,
            "accuracy": accuracy,
            "count": count,
        }
    )
    gap = np.abs(accuracy - mean_conf)[count > 0]
    n = max(len(labels), 1)
    ece = float((gap * count[count > 0]).sum() / n)
    mce = float(gap.max()) if len(gap) else 0.0
    return ece, mce, table


def calibration(
    learn, split: str = "valid", *, df: pd.DataFrame | None = None, bins: int = 15
) -> CalibrationReport:
    """Measure how well a learner's probabilities match its accuracy (ECE, reliability).

    The images go through the deterministic validation pipeline (as
    :func:`cvnb.evaluate.predictions` and an export see them); the probabilities are
    ``softmax(logits / T)`` with the temperature stored in ``learn.cvnb_config`` (1.0 until
    :func:`fit_temperature` sets one). Figures measured on the split the temperature was
    fitted on flatter it: where the table has a ``test`` split, measure that
    (``calibration(learn, "test", df=table)``).

    Args:
        learn: A ``Learner`` from :func:`cvnb.train.make_learner`.
        split: ``"valid"``, ``"train"``, or with ``df`` any split of that table (``"test"``).
        df: The dataset table (``path``, ``label``, ``split``) to take the split's rows
            from. Default: the learner's own images for ``"train"``/``"valid"``, the table
            it was built from (``learn.cvnb_table``) for any other split.
        bins: Number of equal-width confidence bins (15 is the usual choice).

    Returns:
        A :class:`CalibrationReport` (``.ece``, ``.mce``, ``.table``, ``.plot()``).

    Raises:
        ValueError: An unknown split, a split with no rows, or labels that are not the
            learner's classes.

    Example:
        >>> report = calibration(learn)  # doctest: +SKIP
        >>> report.ece, report.plot()  # doctest: +SKIP
    """
    items = split_items(learn, split, df)
    logits, targets = split_logits(learn, items)
    temperature = temperature_of(learn)
    return report_from_logits(
        logits.numpy(), targets.numpy(), temperature=temperature, bins=bins, split=split
    )


def report_from_logits(
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    temperature: float = 1.0,
    bins: int = 15,
    split: str = "given",
) -> CalibrationReport:
    """A :class:`CalibrationReport` of raw ``logits`` scaled by ``temperature``."""
    probs = softmax(logits, temperature)
    labels = np.asarray(labels)
    ece, mce, table = calibration_table(probs, labels, bins=bins)
    true = np.clip(probs[np.arange(len(labels)), labels], 1e-300, None)
    return CalibrationReport(
        ece=ece,
        mce=mce,
        table=table,
        temperature=float(temperature),
        split=split,
        n=len(labels),
        accuracy=float((probs.argmax(axis=1) == labels).mean()),
        nll=float(-np.log(true).mean()),
    )

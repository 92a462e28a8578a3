"""``evaluation_report``: the figures of one split that can be trusted, and where it fails."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._probs import class_probs, split_rows, with_probs
from ._slices import image_measures, slice_table

__all__ = ["EvaluationReport", "evaluation_report"]

_CHUNK = 200  # bootstrap resamples drawn at once (memory: chunk × n indices)


@dataclass
class EvaluationReport:
    """A learner's figures on one split, from one pass over its images.

    Attributes:
        split: The split the figures come from (``"valid"``, ``"test"`` or ``"train"``).
        classes: Class names in the model's output order.
        predictions: One row per image of the split: the table's columns plus
            ``prediction``, ``prob`` (its probability), ``prob_true`` (the given label's),
            ``loss`` (cross-entropy of the given label, ``-log prob_true``) and ``correct``.
        probs: Softmax probabilities, ``(n, len(classes))``, in the rows' order.
        per_class: ``class``, ``precision``, ``recall``, ``f1``, ``support`` per class.
        accuracy: Fraction of images predicted right.
        accuracy_ci: 95 % bootstrap interval of the accuracy (percentiles of ``bootstrap``
            resamples of the images, seeded); NaN without resamples.
        balanced_accuracy: Mean recall over the classes present in the split.
        confusion: Counts, rows = true class, columns = predicted class.
        slices: Error rate per bin of image size, aspect, brightness and the table's extra
            columns (``column``, ``bin``, ``n``, ``errors``, ``error_rate``).
        bootstrap: Number of bootstrap resamples.
        seed: Seed of the resamples.
    """

    split: str
    classes: list[str]
    predictions: pd.DataFrame
    probs: np.ndarray
    per_class: pd.DataFrame
    accuracy: float
    accuracy_ci: tuple[float, float]
    balanced_accuracy: float
    confusion: pd.DataFrame
    slices: pd.DataFrame
    bootstrap: int = 1000
    seed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def top_losses(self) -> pd.DataFrame:
        """The rows by loss, worst first (ties keep table order).

        It has ``path``, ``label`` and ``prediction``, so ``cvnb.widgets.show_images``
        shows it as it is: ``show_images(report.top_losses, max_images=16)``.
        """
        return self.predictions.sort_values("loss", ascending=False, kind="stable")

    @property
    def mistakes(self) -> pd.DataFrame:
        """The wrongly predicted rows, worst loss first."""
        top = self.top_losses
        return top[~top["correct"]]

    def plot(self, normalize: bool = False, *, ax=None):
        """The confusion matrix as a heat map (rows = true class).

        Args:
            normalize: False shows counts; True divides each row by its class's count, so
                every row sums to 1 and a rare class's confusions are as visible as a
                common one's.
            ax: A matplotlib ``Axes`` to draw in; None makes a new figure.

        Returns:
            The matplotlib ``Figure``.
        """
        import matplotlib.pyplot as plt

        counts = self.confusion.to_numpy(dtype=float)
        values = counts
        if normalize:
            totals = counts.sum(axis=1, keepdims=True)
            values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        n_rows, n_cols = values.shape
        if ax is None:
            side = min(max(3.0, 0.45 * max(n_rows, n_cols) + 2.0), 14.0)
            fig, ax = plt.subplots(figsize=(side + 1.0, side))
        else:
            fig = ax.figure
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks(range(n_cols), self.confusion.columns, rotation=90 if n_cols > 6 else 0)
        ax.set_yticks(range(n_rows), self.confusion.index)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        kind = "row-normalised" if normalize else "counts"
        ax.set_title(f"Confusion matrix ({self.split}, {kind})")
        if n_rows * n_cols <= 400:
            top = 1.0 if normalize else (values.max() or 1.0)
            for i in range(n_rows):
                for j in range(n_cols):
                    v = values[i, j]
                    if v == 0:
                        continue
                    text = f"{v:.2f}" if normalize else f"{int(v)}"
                    colour = "white" if v > 0.6 * top else "black"
                    ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
        fig.tight_layout()
        return fig

    def worst_slices(self, n: int = 5, *, min_rows: int = 5) -> pd.DataFrame:
        """The ``n`` slices with the highest error rate, of ``min_rows`` rows or more.

        A bin that holds every row (a column with one value) says nothing and is left out.
        """
        s = self.slices
        big = s[(s["n"] >= min_rows) & (s["n"] < len(self.predictions))]
        return big.sort_values(["error_rate", "n"], ascending=[False, False]).head(n)

    def _headline(self) -> str:
        lo, hi = self.accuracy_ci
        ci = "" if np.isnan(lo) else f" (95% CI {lo:.3f}–{hi:.3f}, {self.bootstrap} bootstraps)"
        return (
            f"{self.split} split, {len(self.predictions)} images: accuracy {self.accuracy:.3f}"
            f"{ci}, balanced accuracy {self.balanced_accuracy:.3f}"
        )

    def __repr__(self) -> str:
        worst = self.per_class.sort_values("f1").head(3)
        weak = ", ".join(f"{r['class']} (F1 {r.f1:.2f})" for _, r in worst.iterrows())
        lines = [f"EvaluationReport: {self._headline()}", f"  weakest classes: {weak}"]
        for _, r in self.worst_slices(3).iterrows():
            lines.append(f"  slice {r.column}={r.bin}: error rate {r.error_rate:.2f} (n={r.n})")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        per_class = self.per_class.to_html(index=False, float_format=lambda x: f"{x:.3f}")
        worst = self.worst_slices(5).to_html(index=False, float_format=lambda x: f"{x:.3f}")
        notes = "".join(f"<p><i>{html.escape(n)}</i></p>" for n in self.notes)
        return (
            f"<div><b>EvaluationReport</b>: {html.escape(self._headline())}{notes}"
            "<details open><summary>Per class</summary>"
            f"{per_class}</details><details><summary>Slices with the highest error rate"
            f"</summary>{worst}</details><p>Also: <code>.confusion</code>, "
            "<code>.plot()</code>, <code>.top_losses</code>, <code>.slices</code>, "
            "<code>.predictions</code>.</p></div>"
        )


def evaluation_report(
    learn,
    split: str = "valid",
    *,
    df: pd.DataFrame | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    slice_bins: int = 4,
) -> EvaluationReport:
    """Evaluate a learner on one split: per-class figures, an interval, where it fails.

    Every image of the split goes once through the learner's deterministic validation
    pipeline (as :func:`cvnb.evaluate.predictions`), and every figure comes from those
    predictions: precision, recall and F1 per class (scikit-learn's definitions; 0 where a
    class is never predicted), accuracy with a 95 % bootstrap interval, balanced accuracy,
    the confusion matrix, the top losses and the error rate by slice.

    The recipe, a temperature and thresholds are all chosen on ``valid``, so its figures
    flatter; where the table has a ``test`` split (:func:`cvnb.data.make_splits` carves
    one), report the final figures with ``evaluation_report(learn, "test", df=table)``.
    The learner holds only train and valid, so the test split needs its table.

    Slices: ``image_size`` (√(width·height) in px), ``aspect`` (width / height) and
    ``brightness`` (mean grey level, 0–255) are measured on the images, and every extra
    column of ``df`` (not cvnb's ``path``/``label``/``split``/``error``/``width``/
    ``height``) is sliced too: numbers in ``slice_bins`` quantile bins, other values one bin
    each (a text column with more than 20 values is skipped).

    Args:
        learn: A ``Learner`` from :func:`cvnb.train.make_learner`.
        split: ``"valid"``, ``"train"`` or ``"test"``.
        df: The dataset table; needed for ``"test"`` and for slicing by extra columns.
            Its readable rows of ``split`` are evaluated. None: the learner's own rows.
        bootstrap: Resamples for the accuracy interval (0: no interval).
        seed: Seed of the resamples: the same seed gives the same interval.
        slice_bins: Quantile bins per numeric slice column.

    Returns:
        An :class:`EvaluationReport`.

    Raises:
        ValueError: If ``split`` is not in the learner (without ``df``) or the table has no
            readable rows of it, or ``bootstrap`` is negative.

    Example:
        >>> report = evaluation_report(learn)  # doctest: +SKIP
        >>> report.per_class  # doctest: +SKIP
        >>> report.plot(normalize=True)  # doctest: +SKIP
        >>> show_images(report.top_losses, max_images=16)  # doctest: +SKIP
    """
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be 0 or more, got {bootstrap}")
    rows = split_rows(learn, split, df)
    classes = [str(c) for c in learn.dls.vocab]
    probs = class_probs(learn, rows)
    table = with_probs(rows, probs, classes)
    y, p = table["label"].astype(str).to_numpy(), table["prediction"].to_numpy()
    correct = table["correct"].to_numpy(dtype=bool)
    unknown = sorted(set(y) - set(classes))
    labels = classes + unknown
    notes = []
    if unknown:
        notes.append(f"labels the model has no class for (always wrong): {unknown}")
    measures = image_measures(table["path"])
    sliceable = pd.concat([measures, table.drop(columns=["path"])], axis=1)
    return EvaluationReport(
        split=split,
        classes=classes,
        predictions=table,
        probs=probs,
        per_class=_per_class(y, p, labels),
        accuracy=float(correct.mean()),
        accuracy_ci=_bootstrap_ci(correct, bootstrap, seed),
        balanced_accuracy=_balanced_accuracy(y, p),
        confusion=_confusion(y, p, labels),
        slices=slice_table(sliceable, ~correct, bins=slice_bins),
        bootstrap=bootstrap,
        seed=seed,
        notes=notes,
    )


def _per_class(y: np.ndarray, p: np.ndarray, labels: list[str]) -> pd.DataFrame:
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y, p, labels=labels, zero_division=0
    )
    return pd.DataFrame(
        {"class": labels, "precision": precision, "recall": recall, "f1": f1, "support": support}
    )


def _balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (sklearn's balanced accuracy)."""
    return float(np.mean([np.mean(p[y == c] == c) for c in np.unique(y)]))


def _confusion(y: np.ndarray, p: np.ndarray, labels: list[str]) -> pd.DataFrame:
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(y, p, labels=labels)
    return pd.DataFrame(
        counts,
        index=pd.Index(labels, name="true"),
        columns=pd.Index(labels, name="predicted"),
    )


def _bootstrap_ci(correct: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile 95 % interval of the accuracy over ``resamples`` bootstrap resamples."""
    n = len(correct)
    if resamples == 0 or n == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, _CHUNK):
        idx = rng.integers(0, n, size=(min(_CHUNK, resamples - start), n))
        means.append(correct[idx].mean(axis=1))
    lo, hi = np.percentile(np.concatenate(means), [2.5, 97.5])
    return (float(lo), float(hi))

"""Summarize a loaded image table: counts per class and split, sizes, modes, bad files.

Pure logic: no ipywidgets, traitlets or IPython here; the HTML view is a
plain ``_repr_html_`` that Jupyter picks up by itself.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._load import SPLIT_ORDER

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Summary", "summarize"]

_MAX_HTML_ERRORS = 10


@dataclass(eq=False, repr=False)
class Summary:
    """What a dataset table holds, as tables and a plot; made by :func:`summarize`.

    Attributes:
        counts: Images per label (rows) and split (columns: train, valid, test as present),
            with a ``total`` row and column. Unreadable files are counted too.
        sizes: ``describe()`` of ``width``, ``height`` and ``aspect`` (width / height) over
            the readable images (all-NaN when the table was loaded with ``check=False``).
        modes: Number of images per stored PIL mode (``RGB``, ``L``, ``CMYK``…).
        formats: Number of images per file format (``JPEG``, ``PNG``…).
        errors: The unreadable files: columns ``path`` and ``error``.
        n_images: Number of rows.
        n_errors: Number of unreadable files.
        n_classes: Number of distinct labels.

    Jupyter shows a summary as a compact HTML table; ``str(summary)`` gives the same as
    text and :meth:`plot` draws it.
    """

    counts: pd.DataFrame
    sizes: pd.DataFrame
    modes: pd.Series
    formats: pd.Series
    errors: pd.DataFrame
    n_images: int
    n_errors: int
    n_classes: int
    # Per-image width, height and split of the readable images, for plot().
    _points: pd.DataFrame = field(default_factory=pd.DataFrame)

    def plot(self, *, figsize: tuple[float, float] = (15.0, 4.0)) -> Figure:
        """Draw class counts per split, image sizes and aspect ratios.

        Args:
            figsize: Figure size in inches.

        Returns:
            A matplotlib Figure with three axes: grouped bars of images per class and
            split; a width × height scatter; a histogram of aspect ratios (width / height).
            It is not attached to pyplot, so Jupyter shows it once, when it is the value
            of a cell.

        Example:
            >>> fig = summarize(df).plot()  # doctest: +SKIP
            >>> fig.savefig("dataset.png")  # doctest: +SKIP
        """
        from matplotlib.figure import Figure  # lazy: keeps `import cvnb.data` cheap

        fig = Figure(figsize=figsize, layout="constrained")
        ax_counts, ax_sizes, ax_aspect = fig.subplots(1, 3)

        counts = self.counts.drop(index="total", columns="total", errors="ignore")
        if counts.empty:
            ax_counts.text(0.5, 0.5, "no images", ha="center", va="center")
        else:
            _grouped_bars(ax_counts, counts)
        ax_counts.set(title="Images per class", xlabel="label", ylabel="images")

        sizes = self._points
        if sizes.empty:
            for ax in (ax_sizes, ax_aspect):
                ax.text(0.5, 0.5, "no sizes\n(loaded with check=False?)", ha="center", va="center")
        else:
            for split, group in sizes.groupby("split", sort=False):
                ax_sizes.scatter(group["width"], group["height"], s=12, alpha=0.6, label=split)
            ax_sizes.legend(title="split")
            ax_aspect.hist(sizes["width"] / sizes["height"], bins=30)
            ax_aspect.axvline(1.0, color="grey", linestyle=":", linewidth=1)
        ax_sizes.set(title="Image sizes", xlabel="width (px)", ylabel="height (px)")
        ax_aspect.set(title="Aspect ratio", xlabel="width / height", ylabel="images")
        return fig

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self._headline())}</b></p>", self.counts.to_html()]
        if len(self.modes) or len(self.formats):
            parts.append(
                "<p>modes: "
                + html.escape(_inline(self.modes))
                + "<br>formats: "
                + html.escape(_inline(self.formats))
                + "</p>"
            )
        if not self.sizes.empty and self.sizes.loc["count"].max() > 0:
            parts.append(self.sizes.loc[["min", "50%", "max"]].round(2).to_html())
        if self.n_errors:
            more = self.n_errors - _MAX_HTML_ERRORS
            parts.append("<p><b>Unreadable files</b></p>")
            parts.append(self.errors.head(_MAX_HTML_ERRORS).to_html(index=False))
            if more > 0:
                parts.append(f"<p>… and {more} more (see <code>.errors</code>)</p>")
        return '<div class="cvnb-summary">' + "\n".join(parts) + "</div>"

    def __str__(self) -> str:
        lines = [self._headline(), "", self.counts.to_string()]
        if len(self.modes) or len(self.formats):
            lines += ["", f"modes: {_inline(self.modes)}", f"formats: {_inline(self.formats)}"]
        if self.n_errors:
            lines += ["", "unreadable files:"]
            lines += [f"  {p}: {e}" for p, e in self.errors.head(_MAX_HTML_ERRORS).to_numpy()]
            if self.n_errors > _MAX_HTML_ERRORS:
                lines.append(f"  … and {self.n_errors - _MAX_HTML_ERRORS} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Summary: {self._headline()}>"

    def _headline(self) -> str:
        return f"{self.n_images} images, {self.n_classes} classes, {self.n_errors} unreadable"


def summarize(df: pd.DataFrame) -> Summary:
    """Summarize a dataset table: counts per class and split, sizes, modes, bad files.

    Args:
        df: A table with at least ``path``, ``label`` and ``split`` columns, usually from
            :func:`cvnb.data.load_images`. ``width``, ``height``, ``mode``, ``format`` and
            ``error`` are used when present.

    Returns:
        A :class:`Summary`.

    Raises:
        ValueError: If ``df`` lacks ``path``, ``label`` or ``split``.

    Example:
        >>> s = summarize(load_images("data/pets"))  # doctest: +SKIP
        >>> s.counts  # doctest: +SKIP
        split  train  valid  total
        label
        cat      400    100    500
        dog      400    100    500
        total    800    200   1000
        >>> s.plot()  # doctest: +SKIP
    """
    missing = [c for c in ("path", "label", "split") if c not in df.columns]
    if missing:
        raise ValueError(
            f"summarize needs the columns path, label and split; missing {missing}. "
            "Load the table with cvnb.data.load_images."
        )
    df = df.reset_index(drop=True)
    error = df["error"] if "error" in df.columns else pd.Series([None] * len(df), dtype=object)
    bad = error.notna()

    splits = sorted(df["split"].astype(str).unique(), key=lambda s: (SPLIT_ORDER.get(s, 9), s))
    counts = pd.crosstab(
        df["label"].astype(str), df["split"].astype(str), margins=True, margins_name="total"
    )
    if len(df):
        counts = counts[[*splits, "total"]]
    counts.index.name, counts.columns.name = "label", "split"

    width = _numeric(df, "width")
    height = _numeric(df, "height")
    sized = pd.DataFrame({"width": width, "height": height, "split": df["split"].astype(str)})
    sized = sized[~bad & width.notna() & height.notna() & (height > 0)]
    sizes = sized[["width", "height"]].assign(aspect=sized["width"] / sized["height"]).describe()

    return Summary(
        counts=counts,
        sizes=sizes,
        modes=_value_counts(df, "mode", "mode"),
        formats=_value_counts(df, "format", "format"),
        errors=df.loc[bad, ["path"]].assign(error=error[bad]).reset_index(drop=True),
        n_images=len(df),
        n_errors=int(bad.sum()),
        n_classes=int(df["label"].nunique()),
        _points=sized.reset_index(drop=True),
    )


def _grouped_bars(ax: Any, counts: pd.DataFrame) -> None:
    # Drawn by hand rather than with DataFrame.plot.bar, which imports pyplot.
    positions = np.arange(len(counts))
    width = 0.8 / max(len(counts.columns), 1)
    for i, split in enumerate(counts.columns):
        offset = (i - (len(counts.columns) - 1) / 2) * width
        ax.bar(positions + offset, counts[split].to_numpy(), width, label=split)
    ax.set_xticks(positions, [str(label) for label in counts.index])
    if len(counts) > 4:
        ax.tick_params(axis="x", labelrotation=45)
    ax.legend(title="split")


def _numeric(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(float("nan"), index=df.index)
    return pd.to_numeric(df[col], errors="coerce").astype("float64")


def _value_counts(df: pd.DataFrame, col: str, name: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series(dtype="int64", name="count").rename_axis(name)
    return df[col].value_counts().rename_axis(name)


def _inline(counts: pd.Series) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "–"

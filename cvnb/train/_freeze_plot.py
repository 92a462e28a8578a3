"""A picture of the layer table: parameters per group, trainable part, rates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def plot_layer_table(table: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Parameters per group (bars: trainable part dark, frozen part light) and rates.

    Args:
        table: A :func:`layer_table` (or :func:`apply_freeze`) result.
        ax: Axes to draw into; a new Figure (not attached to pyplot) when None.

    Returns:
        The Figure drawn on; the per-group learning rate is on a second, logarithmic axis.
    """
    if ax is None:
        from matplotlib.figure import Figure  # lazy: keeps `import cvnb.train` cheap

        ax = Figure(figsize=(7.0, 3.5), layout="constrained").subplots()
    x = np.arange(len(table))
    millions = table["n_params"] / 1e6
    trained = table["n_trainable"] / 1e6
    ax.bar(x, millions, color="0.8", label="frozen")
    ax.bar(x, trained, color="C0", label="trainable")
    ax.set_xticks(x, table["group"], rotation=45, ha="right")
    total = f"{trained.sum():.2f}M of {millions.sum():.2f}M parameters train"
    ax.set(ylabel="parameters (millions)", title=total)
    rates = ax.twinx()
    rates.plot(x, table["lr"], "o-", color="C3", label="learning rate")
    rates.set_yscale("log")
    rates.set_ylabel("learning rate")
    ax.legend(loc="upper left", fontsize=8)
    return ax.figure

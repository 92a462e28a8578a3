"""What the dataset inspector draws: encoded thumbnails (cached) and the image-size figure.

The inspector's row selection and paging are plain functions in ``cvnb.quality._pages``.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ThumbnailCache", "figure_png", "size_figure"]


class ThumbnailCache:
    """Encoded thumbnails of image files, least recently used evicted first.

    A file that cannot be read gives ``b""`` (the view draws a placeholder). An entry is
    keyed by path, size and modification time, so a replaced file is encoded afresh.

    Args:
        max_items: Entries kept.
        max_size: Longest side of a thumbnail in pixels.
    """

    def __init__(self, max_items: int = 1024, max_size: int = 192) -> None:
        self.max_items = max_items
        self.max_size = max_size
        self._entries: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: str) -> bytes:
        """The thumbnail of ``path``, encoded once and then served from memory."""
        from cvnb.data import ImageReadError, encode_thumbnail

        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return b""
        key = (path, self.max_size, mtime)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        self.misses += 1
        try:
            data = encode_thumbnail(path, max_size=self.max_size)
        except ImageReadError:
            data = b""
        self._entries[key] = data
        while len(self._entries) > self.max_items:
            self._entries.popitem(last=False)
        return data


def size_figure(table: pd.DataFrame) -> Figure:
    """Image sizes (width against height) and aspect ratios of the readable images.

    Args:
        table: A table with ``width`` and ``height`` columns (missing or 0 where unknown).

    Returns:
        A two-panel matplotlib Figure, not attached to pyplot (so it never shows twice in a
        notebook).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3), dpi=80)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.9, wspace=0.25)
    ax_size, ax_aspect = fig.subplots(1, 2)
    width = pd.to_numeric(table.get("width", pd.Series(dtype=float)), errors="coerce")
    height = pd.to_numeric(table.get("height", pd.Series(dtype=float)), errors="coerce")
    known = ((width > 0) & (height > 0)).to_numpy(dtype=bool)
    if known.any():
        w, h = width[known].to_numpy(float), height[known].to_numpy(float)
        ax_size.scatter(w, h, s=6, alpha=0.3, color="#1976d2", linewidths=0, rasterized=True)
        ax_aspect.hist(np.log2(w / h), bins=40, color="#1976d2")
        ax_aspect.axvline(0, color="#616161", linewidth=0.8)
    ax_size.set_xlabel("width (px)")
    ax_size.set_ylabel("height (px)")
    ax_size.set_title(f"image size ({int(known.sum())} images)")
    ax_aspect.set_xlabel("log2(width / height)")
    ax_aspect.set_title("aspect ratio")
    return fig


def figure_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()

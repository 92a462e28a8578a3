"""ImageGrid: a thumbnail gallery with labels, predictions and click-to-select."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anywidget
import traitlets

from cvnb.data import encode_thumbnail
from cvnb.widgets._assets import asset_path, widget_css
from cvnb.widgets._base import report_errors

if TYPE_CHECKING:
    import os

    import pandas as pd
    from PIL import Image

__all__ = ["ImageGrid", "show_images"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Traits that annotate the images one-to-one; each is either empty or as long as `images`.
_PER_IMAGE = ("labels", "predictions", "captions", "paths")


def _length_error(n_images: int, name: str, n_values: int) -> traitlets.TraitError:
    # Same message whichever trait is validated first (traitlets' order is not fixed).
    return traitlets.TraitError(
        f"ImageGrid has {n_images} images but {n_values} {name}; give one entry of {name} "
        "per image, or none. To replace images and their labels together, assign them "
        "inside `with grid.hold_trait_notifications():`."
    )


class ImageGrid(anywidget.AnyWidget):
    """A grid of image thumbnails with labels, optional predictions and selection.

    Build one with :func:`show_images`, or directly from encoded thumbnails (see
    :func:`cvnb.data.encode_thumbnail`). Every trait is synced with the browser, so a cell
    can drive the widget without touching it: ``grid.selected = [0, 3]``.

    Input traits (Python → browser):
        images (list[bytes]): Encoded PNG/JPEG thumbnails, sent as binary buffers.
        labels (list[str]): One label per image, shown under it; may be empty.
        predictions (list[str]): One predicted label per image; may be empty. When given,
            each item shows "pred: …" and is outlined green where it equals the label and
            red where it does not.
        captions (list[str]): Hover text per image (e.g. a score); may be empty.
        paths (list[str]): Source path per image, shown on hover; may be empty.
        columns (int): Number of grid columns (≥ 1).
        thumb_size (int): Display size of a thumbnail cell in CSS pixels (≥ 16).

    Two-way trait:
        selected (list[int]): Indices of the selected images, sorted. Clicking a thumbnail
            (or Space/Enter on a focused one) toggles it; Python may set it too.

    Output trait (browser ← Python):
        error (str): Message shown in the widget's error area; empty when all is well.
            Exceptions raised by the widget's observers land here.

    The per-image traits must each be empty or as long as ``images``; a mismatch raises
    :class:`traitlets.TraitError`. To replace the images together with their labels, assign
    inside ``with grid.hold_trait_notifications():`` so that the lengths are checked once
    all traits are set.
    """

    _esm = asset_path("image_grid.js")
    _css = widget_css("image_grid.css")

    images = traitlets.List(traitlets.Bytes()).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    predictions = traitlets.List(traitlets.Unicode()).tag(sync=True)
    captions = traitlets.List(traitlets.Unicode()).tag(sync=True)
    paths = traitlets.List(traitlets.Unicode()).tag(sync=True)
    selected = traitlets.List(traitlets.Int()).tag(sync=True)
    columns = traitlets.Int(8).tag(sync=True)
    thumb_size = traitlets.Int(96).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    @traitlets.validate(*_PER_IMAGE)
    def _check_length(self, proposal: Any) -> list[str]:
        value = list(proposal["value"])
        if value and len(value) != len(self.images):
            raise _length_error(len(self.images), proposal["trait"].name, len(value))
        return value

    @traitlets.validate("images")
    def _check_images(self, proposal: Any) -> list[bytes]:
        images = list(proposal["value"])
        for name in _PER_IMAGE:
            value = getattr(self, name)
            if value and len(value) != len(images):
                raise _length_error(len(images), name, len(value))
        return images

    @traitlets.validate("selected")
    def _check_selected(self, proposal: Any) -> list[int]:
        n_images = len(self.images)
        bad = [i for i in proposal["value"] if not 0 <= i < n_images]
        if bad:
            raise traitlets.TraitError(
                f"ImageGrid.selected holds {bad}, outside 0..{n_images - 1} "
                f"(there are {n_images} images)."
            )
        return sorted(set(proposal["value"]))

    @traitlets.validate("columns")
    def _check_columns(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise traitlets.TraitError(f"columns must be at least 1, got {proposal['value']}.")
        return proposal["value"]

    @traitlets.validate("thumb_size")
    def _check_thumb_size(self, proposal: Any) -> int:
        if proposal["value"] < 16:
            raise traitlets.TraitError(
                f"thumb_size must be at least 16 (CSS pixels), got {proposal['value']}."
            )
        return proposal["value"]

    @traitlets.observe("images")
    @report_errors
    def _on_images(self, change: Any) -> None:
        # A selection refers to the previous images; indices past the new end are dropped.
        self.selected = [i for i in self.selected if i < len(change["new"])]

    def __repr__(self) -> str:
        return f"<ImageGrid: {len(self.images)} images, {len(self.selected)} selected>"


def show_images(
    source: pd.DataFrame | Sequence[str | os.PathLike[str] | Image.Image],
    *,
    labels: str | Sequence[str] | None = None,
    predictions: str | Sequence[str] | None = None,
    max_images: int = 32,
    columns: int = 8,
    thumb_size: int = 96,
    seed: int | None = None,
) -> ImageGrid:
    """Show images as a grid of thumbnails with their labels (and predictions).

    Args:
        source: A dataset table with a ``path`` column (plus ``label``; optional ``error``,
            whose non-empty rows are skipped; optional ``prediction``), or a list of image
            paths or PIL images.
        labels: For a table, a column name (default ``"label"`` when present); otherwise a
            sequence with one label per entry of ``source``.
        predictions: For a table, a column name (default ``"prediction"`` when present);
            otherwise one predicted label per entry of ``source``.
        max_images: Show at most this many images.
        columns: Number of grid columns.
        thumb_size: Display size of each thumbnail in CSS pixels; thumbnails are encoded at
            twice this size so that they stay sharp on high-DPI screens.
        seed: When given, draw ``max_images`` entries at random (reproducibly, in their
            original order); otherwise take the first ``max_images``.

    Returns:
        The :class:`ImageGrid`; display it by leaving it last in a cell. Files that cannot be
        read are left out and named in the grid's ``error`` area.

    Raises:
        ValueError: If ``labels``/``predictions`` do not match ``source`` in length, or a
            table lacks a ``path`` column or a named column.

    Example:
        >>> grid = show_images(df, max_images=16, seed=0)  # doctest: +SKIP
        >>> grid.selected = [0, 2]  # doctest: +SKIP
    """
    if max_images < 0:
        raise ValueError(f"max_images must be 0 or more, got {max_images}.")
    items, label_list, pred_list = _collect(source, labels, predictions)
    picked = _pick(len(items), max_images, seed)

    # Only paths are read from disk, so only they can fail with ImageReadError.
    read_error = _image_read_error() if any(not _is_pil(items[i]) for i in picked) else ()
    images: list[bytes] = []
    kept: list[int] = []
    failures: list[str] = []
    for i in picked:
        try:
            images.append(encode_thumbnail(items[i], max_size=2 * thumb_size))
            kept.append(i)
        except read_error as exc:
            failures.append(f"{items[i]} ({getattr(exc, 'reason', exc)})")

    paths = ["" if _is_pil(items[i]) else str(items[i]) for i in kept]
    grid = ImageGrid(
        images=images,
        labels=[label_list[i] for i in kept] if label_list else [],
        predictions=[pred_list[i] for i in kept] if pred_list else [],
        paths=paths if any(paths) else [],
        columns=columns,
        thumb_size=thumb_size,
    )
    if failures:
        shown = "; ".join(failures[:5]) + (" …" if len(failures) > 5 else "")
        grid.error = f"Skipped {len(failures)} unreadable image(s): {shown}"
    return grid


def _image_read_error() -> type[Exception]:
    from cvnb.data import ImageReadError

    return ImageReadError


def _is_pil(item: object) -> bool:
    from PIL import Image

    return isinstance(item, Image.Image)


def _collect(
    source: Any,
    labels: str | Sequence[str] | None,
    predictions: str | Sequence[str] | None,
) -> tuple[list[Any], list[str], list[str]]:
    """Turn ``source`` into (items, labels, predictions), labels/predictions possibly empty."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        if "path" not in source.columns:
            raise ValueError(
                f"show_images needs a 'path' column; the table has {list(source.columns)}."
            )
        rows = list(range(len(source)))
        if "error" in source.columns:
            err = source["error"]
            ok = (err.isna() | (err.astype(str).str.strip() == "")).to_numpy()
            rows = [r for r in rows if ok[r]]
        return (
            [source["path"].iloc[r] for r in rows],
            _column_or_sequence(source, rows, labels, "label", "labels"),
            _column_or_sequence(source, rows, predictions, "prediction", "predictions"),
        )

    items = list(source)
    return (
        items,
        _as_strings(labels, len(items), "labels"),
        _as_strings(predictions, len(items), "predictions"),
    )


def _column_or_sequence(
    table: pd.DataFrame,
    rows: list[int],
    given: str | Sequence[str] | None,
    default: str,
    what: str,
) -> list[str]:
    """Values for the kept ``rows`` from a column name, a default column, or a sequence."""
    if given is None:
        if default not in table.columns:
            return []
        given = default
    if isinstance(given, str):
        if given not in table.columns:
            raise ValueError(f"{what}={given!r} is not a column; columns: {list(table.columns)}.")
        column = table[given]
        return [str(column.iloc[r]) for r in rows]
    values = _as_strings(given, len(table), what)  # aligned with the whole table
    return [values[r] for r in rows]


def _as_strings(given: Sequence[str] | str | None, n: int, what: str) -> list[str]:
    if given is None:
        return []
    if isinstance(given, str):
        raise ValueError(f"{what} must be a sequence with one entry per image, not a string.")
    values = [str(v) for v in given]
    if len(values) != n:
        raise ValueError(
            f"{what} has {len(values)} entries but source has {n}; give one per image."
        )
    return values


def _pick(n: int, max_images: int, seed: int | None) -> list[int]:
    """Indices to show: the first ``max_images``, or a seeded sample kept in order."""
    if n <= max_images:
        return list(range(n))
    if seed is None:
        return list(range(max_images))
    import numpy as np

    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n, size=max_images, replace=False))

"""Error rate by slice: image size, aspect, brightness and the table's extra columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns never sliced on: cvnb's own, and the prediction's.
NOT_SLICED = frozenset(
    {"path", "label", "split", "error", "width", "height", "is_valid"}
    | {"prediction", "prob", "prob_true", "loss", "correct", "probs", "fold"}
)
#: A non-numeric column with more distinct values than this is an identifier: not sliced.
MAX_CATEGORIES = 20
MISSING = "missing"


def image_measures(paths: pd.Series) -> pd.DataFrame:
    """``image_size`` (√(width·height), px), ``aspect`` (width / height) and ``brightness``.

    Brightness is the mean grey level (0–255) of the image as read by
    :func:`cvnb.data.read_image` (EXIF orientation applied), measured on a copy at most
    64 px on a side. An image that cannot be read gets NaN.
    """
    from cvnb.data import ImageReadError, read_image

    rows = []
    for path in paths:
        try:
            image = read_image(path)
        except (ImageReadError, OSError):
            rows.append((np.nan, np.nan, np.nan))
            continue
        w, h = image.size
        image.thumbnail((64, 64))
        grey = float(np.asarray(image.convert("L"), dtype=np.float64).mean())
        rows.append((float(np.sqrt(w * h)), w / h, grey))
    return pd.DataFrame(rows, columns=["image_size", "aspect", "brightness"])


def slice_table(rows: pd.DataFrame, wrong: np.ndarray, *, bins: int = 4) -> pd.DataFrame:
    """Error rate per bin of every sliceable column of ``rows``.

    Numeric columns with more than ``bins`` distinct values are cut into ``bins`` quantile
    bins (fewer where values repeat); other columns keep one bin per value (bools,
    categories, a few numbers); a non-numeric column with more than
    :data:`MAX_CATEGORIES` values is skipped. Missing values form their own bin, so each
    column's bins cover every row.

    Returns:
        Columns ``column``, ``bin`` (str), ``n``, ``errors``, ``error_rate``, in column order
        and bin order (quantile bins low to high, values by count).
    """
    wrong = np.asarray(wrong, dtype=bool)
    parts = []
    for column in rows.columns:
        if column in NOT_SLICED:
            continue
        binned = _bins(rows[column].reset_index(drop=True), bins)
        if binned is None:
            continue
        frame = pd.DataFrame({"bin": binned, "wrong": wrong})
        grouped = frame.groupby("bin", sort=False, observed=True)["wrong"].agg(["size", "sum"])
        grouped = grouped.reindex([b for b in _order(binned) if b in grouped.index])
        parts.append(
            pd.DataFrame(
                {
                    "column": column,
                    "bin": grouped.index.astype(str),
                    "n": grouped["size"].to_numpy(dtype=int),
                    "errors": grouped["sum"].to_numpy(dtype=int),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["column", "bin", "n", "errors", "error_rate"])
    out = pd.concat(parts, ignore_index=True)
    return out.assign(error_rate=out["errors"] / out["n"])


def _bins(values: pd.Series, bins: int) -> pd.Series | None:
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    present = values.dropna()
    if numeric and present.nunique() > bins:
        cut = pd.qcut(present.astype(float), bins, duplicates="drop")
        labels = cut.cat.categories
        names = {iv: f"{_num(iv.left)}–{_num(iv.right)}" for iv in labels}
        out = pd.Series(MISSING, index=values.index, dtype=object)
        out[present.index] = [names[iv] for iv in cut]
        order = list(dict.fromkeys([names[iv] for iv in labels] + [MISSING]))
        return pd.Series(pd.Categorical(out, categories=order, ordered=True), index=values.index)
    if not numeric and present.astype(str).nunique() > MAX_CATEGORIES:
        return None
    as_text = values.map(lambda v: MISSING if _is_missing(v) else _label(v))
    counts = as_text.value_counts(sort=True)
    if numeric:  # a few numbers: in numeric order
        order = [_label(v) for v in sorted(present.unique())] + [MISSING]
    else:
        order = [*counts.index.drop(MISSING, errors="ignore"), MISSING]
    order = list(dict.fromkeys(order))
    return pd.Series(pd.Categorical(as_text, categories=order, ordered=True), index=values.index)


def _order(binned: pd.Series) -> list[str]:
    return list(binned.cat.categories)


def _is_missing(value: object) -> bool:
    return value is None or bool(pd.api.types.is_scalar(value) and pd.isna(value))


def _label(value: object) -> str:
    if isinstance(value, float | np.floating):
        return _num(float(value))
    return str(value)


def _num(x: float) -> str:
    return f"{x:.3g}"

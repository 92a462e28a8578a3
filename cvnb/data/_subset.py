"""A smaller dataset table with the same classes and splits: a few images per class."""

from __future__ import annotations

import pandas as pd

__all__ = ["subset"]


def subset(df: pd.DataFrame, per_class: int, *, seed: int | None = None) -> pd.DataFrame:
    """Keep at most ``per_class`` images of each class in each split.

    Quick runs (a fast notebook, a test, a first try on a large folder) keep every class and
    every split, so accuracy still means what it means on the whole table.

    Args:
        df: A dataset table with ``label`` and ``split`` columns (from
            :func:`cvnb.data.load_images`).
        per_class: Images kept per class and split (at least 1).
        seed: None keeps the first rows in table order (``load_images`` sorts by path, so
            the same folder gives the same subset); an int draws them at random, seeded.

    Returns:
        A copy of the kept rows, in table order, with a fresh index; ``attrs`` are kept.

    Raises:
        ValueError: If ``per_class`` is below 1 or the table lacks ``label`` or ``split``.

    Example:
        >>> small = subset(load_images("data/pets"), per_class=20)  # doctest: +SKIP
        >>> small.groupby(["split", "label"]).size().max()  # doctest: +SKIP
        20
    """
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}.")
    missing = {"label", "split"} - set(df.columns)
    if missing:
        raise ValueError(
            f"The table lacks column(s) {sorted(missing)}; load it with "
            "cvnb.data.load_images(folder_or_csv), which adds them."
        )
    groups = df.groupby(["split", "label"], sort=False)
    if seed is None:
        keep = groups.cumcount() < per_class
    else:
        shuffled = df.sample(frac=1.0, random_state=seed)
        order = shuffled.groupby(["split", "label"], sort=False).cumcount()
        keep = order.reindex(df.index) < per_class
    out = df[keep].reset_index(drop=True).copy()
    out.attrs = dict(df.attrs)
    return out

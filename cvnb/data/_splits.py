"""Reassign a table's train / valid / test split, stratified by label and seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["make_splits"]


def make_splits(
    df: pd.DataFrame,
    *,
    valid_pct: float = 0.2,
    test_pct: float = 0.0,
    seed: int = 0,
    stratify: bool = True,
) -> pd.DataFrame:
    """Return a copy of the table with its ``split`` column drawn afresh.

    Every row gets ``"train"``, ``"valid"`` or ``"test"``. With ``stratify`` each class is
    split on its own, so every split holds each class in the same proportion: a class of
    ``n`` images gets ``round(n · test_pct)`` test and ``round(n · valid_pct)`` valid
    images, at least one of each split asked for, and the rest train. The same table and
    seed give the same split.

    A test split is the set of images nothing was chosen on: pick the recipe, the
    temperature and any thresholds on ``valid``, and report the final figures on ``test``
    (``cvnb.evaluate.evaluation_report(learn, "test", df=table)``).

    Args:
        df: A dataset table with ``label`` (and usually ``split``) columns, e.g. from
            :func:`cvnb.data.load_images`. Rows with an ``error`` are split like the others.
        valid_pct: Fraction of each class in ``valid``, in [0, 1).
        test_pct: Fraction of each class in ``test``, in [0, 1); 0 makes no test split.
        seed: Seed of the draw.
        stratify: Split each class on its own (True) or the whole table at once (False).

    Returns:
        A copy with ``split`` reassigned (other columns, the row order and ``attrs`` kept);
        ``attrs["splits"]`` records the arguments.

    Raises:
        ValueError: If a fraction is out of range or together they leave no training rows;
            if the table lacks ``label``; or, with ``stratify``, if a class has fewer images
            than the splits asked for (the message names the classes and what to do).

    Example:
        >>> from cvnb.data import load_images, make_splits
        >>> table = make_splits(load_images("data/pets"), valid_pct=0.15, test_pct=0.15)  # doctest: +SKIP
        >>> table.groupby("split").size()  # doctest: +SKIP
    """
    for name, pct in (("valid_pct", valid_pct), ("test_pct", test_pct)):
        if not 0 <= pct < 1:
            raise ValueError(f"{name} must be in [0, 1), got {pct}; e.g. {name}=0.2 for 20 %.")
    if valid_pct + test_pct >= 1:
        raise ValueError(
            f"valid_pct + test_pct = {valid_pct + test_pct:g} leaves no training images; "
            "keep their sum below 1 (e.g. valid_pct=0.15, test_pct=0.15)."
        )
    if "label" not in df.columns:
        raise ValueError(
            "the table lacks a 'label' column; load it with cvnb.data.load_images(folder_or_csv)."
        )
    rng = np.random.default_rng(seed)
    splits = np.full(len(df), "train", dtype=object)
    labels = df["label"].astype(str).to_numpy()
    if stratify:
        _check_class_sizes(labels, valid_pct, test_pct)
        groups = [np.flatnonzero(labels == c) for c in sorted(set(labels))]
    else:
        groups = [np.arange(len(df))]
    for members in groups:
        n_test, n_valid = _counts(len(members), valid_pct, test_pct, at_least_one=stratify)
        order = rng.permutation(members)
        splits[order[:n_test]] = "test"
        splits[order[n_test : n_test + n_valid]] = "valid"
    out = df.copy()
    out["split"] = splits
    out.attrs = {
        **df.attrs,
        "splits": {
            "valid_pct": valid_pct,
            "test_pct": test_pct,
            "seed": seed,
            "stratify": stratify,
        },
    }
    return out


def _counts(n: int, valid_pct: float, test_pct: float, *, at_least_one: bool) -> tuple[int, int]:
    """Test and valid counts of a group of ``n``: rounded, one at least when asked for."""
    low = 1 if at_least_one else 0
    n_test = max(int(np.floor(n * test_pct + 0.5)), low) if test_pct > 0 else 0
    n_valid = max(int(np.floor(n * valid_pct + 0.5)), low) if valid_pct > 0 else 0
    # Rounding up twice may leave no training image: take it back from the larger split.
    while n_test + n_valid > n - 1 and (n_test > low or n_valid > low):
        if n_valid >= n_test and n_valid > low:
            n_valid -= 1
        else:
            n_test -= 1
    return n_test, n_valid


def _check_class_sizes(labels: np.ndarray, valid_pct: float, test_pct: float) -> None:
    need = 1 + (valid_pct > 0) + (test_pct > 0)
    names, counts = np.unique(labels, return_counts=True)
    small = {str(c): int(n) for c, n in zip(names, counts, strict=True) if n < need}
    if small:
        parts = ["train"] + ["valid"] * (valid_pct > 0) + ["test"] * (test_pct > 0)
        raise ValueError(
            f"class(es) {small} have fewer than {need} images, one for each split "
            f"({', '.join(parts)}); add images, drop or merge those classes, ask for fewer "
            "splits (test_pct=0), or pass stratify=False."
        )

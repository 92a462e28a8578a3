"""Score a quality scan against planted ground truth (``truth.csv`` of a dirty dataset).

Pure logic: no ipywidgets, traitlets or IPython here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._report import ISSUES, RANKED_ISSUES

__all__ = ["EVALUATION_COLUMNS", "evaluate_scan", "read_truth"]

#: Columns of :func:`evaluate_scan`'s result, in order.
EVALUATION_COLUMNS = [
    "n_planted",
    "n_flagged",
    "true_positives",
    "precision",
    "recall",
    "precision_at_k",
    "recall_at_k",
]
_TRUTH_FILE = "truth.csv"


def read_truth(truth: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ground-truth table as written by :func:`cvnb.datasets.dirty_copy`.

    Args:
        truth: A DataFrame with ``path`` and ``issue`` columns, a ``truth.csv`` file, or the
            dirty dataset's folder (its ``truth.csv`` is read).

    Returns:
        A copy with every column as strings (``true_label`` stays ``"3"``, not ``3.0``;
        empty cells are ``""``) and ``path`` made absolute (relative paths in a file are
        taken relative to the file's folder).

    Raises:
        FileNotFoundError: If the file (or the folder's ``truth.csv``) does not exist.
        ValueError: If the table has no ``path`` or ``issue`` column.

    Example:
        >>> truth = read_truth(dirty_digits())  # doctest: +SKIP
        >>> truth.groupby("issue").size()  # doctest: +SKIP
    """
    if isinstance(truth, pd.DataFrame):
        table, base = truth.copy(), Path.cwd()
    else:
        path = Path(truth).expanduser()
        if path.is_dir():
            path = path / _TRUTH_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"No ground truth at {str(path)!r}; pass the truth.csv written by "
                "cvnb.datasets.dirty_copy() or dirty_digits(), or its folder."
            )
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        base = path.parent
    missing = [c for c in ("path", "issue") if c not in table.columns]
    if missing:
        raise ValueError(
            f"The truth table has no {' or '.join(map(repr, missing))} column; it needs one "
            "row per planted file and issue, with columns path and issue."
        )
    table["path"] = [os.path.abspath(base / str(p)) for p in table["path"]]
    return table


def evaluate_scan(
    report: Any, truth: pd.DataFrame | str | os.PathLike[str], *, only_scanned: bool = False
) -> pd.DataFrame:
    """Precision and recall of a quality scan, per issue, against planted ground truth.

    For each image-level issue, the positives are the truth's paths for that issue (for
    duplicate kinds, both the copy and its source are positives); the flagged images are
    the report rows with ``is_<issue>`` set. For the issues that are ranked rather than
    thresholded (``near_duplicate``, ``outlier``, ``label_issue``), the top ``k`` rows of
    ``report.ranked(issue)`` (worst score first) are also scored, with ``k`` the number of
    positives: ``precision_at_k`` (hits among the top ``k``, or among all ranked rows when
    fewer than ``k`` have a score) and ``recall_at_k`` (hits / ``k``); with this ``k`` the
    two are equal unless fewer than ``k`` rows have a score. Paths are compared as absolute
    paths; dataset-level issues (such as ``class_imbalance``) in the truth are ignored.

    Args:
        report: A :class:`cvnb.quality.QualityReport` (anything with a ``table`` that has a
            ``path`` column and an ``is_<issue>`` column per issue, and a ``ranked(issue)``
            method).
        truth: The ground truth: a DataFrame, a ``truth.csv`` file or a dirty dataset folder
            (see :func:`read_truth`).
        only_scanned: Count only positives that are in the report, for a scan of part of a
            dirty set. By default a positive the scan never saw counts as missed.

    Returns:
        A DataFrame indexed by issue (in the order of ``ISSUES``, name ``issue``) with
        columns :data:`EVALUATION_COLUMNS`: ``n_planted`` (positives), ``n_flagged``,
        ``true_positives`` (ints), ``precision`` = true_positives / n_flagged and ``recall``
        = true_positives / n_planted (floats; NaN when the divisor is 0), and
        ``precision_at_k`` / ``recall_at_k`` (NaN for issues that are not ranked).

    Raises:
        ValueError: If the report's table lacks ``path`` or an ``is_<issue>`` column.

    Example:
        >>> root = dirty_digits()  # doctest: +SKIP
        >>> report = scan_quality(load_images(root))  # doctest: +SKIP
        >>> evaluate_scan(report, root)[["precision", "recall", "precision_at_k"]]  # doctest: +SKIP
    """
    table = report.table
    missing = [c for c in ("path", *(f"is_{i}" for i in ISSUES)) if c not in table.columns]
    if missing:
        raise ValueError(
            f"The report's table lacks the columns {missing}; pass a QualityReport from "
            "scan_quality()."
        )
    scanned = [os.path.abspath(os.fspath(p)) for p in table["path"]]
    truth = read_truth(truth)
    rows = []
    for issue in ISSUES:
        positives = set(truth.loc[truth["issue"] == issue, "path"])
        if only_scanned:
            positives &= set(scanned)
        row: dict[str, Any] = dict.fromkeys(EVALUATION_COLUMNS, np.nan)
        row["n_planted"] = len(positives)
        is_flagged = table[f"is_{issue}"].fillna(False).astype(bool)
        flagged = {p for p, f in zip(scanned, is_flagged, strict=True) if f}
        hits = len(flagged & positives)
        row.update(n_flagged=len(flagged), true_positives=hits)
        row.update(precision=_ratio(hits, len(flagged)), recall=_ratio(hits, len(positives)))
        if issue in RANKED_ISSUES and positives:
            k = len(positives)
            ranked = report.ranked(issue)
            top = {os.path.abspath(os.fspath(p)) for p in ranked["path"].iloc[:k]}
            hits_at_k = len(top & positives)
            row.update(precision_at_k=_ratio(hits_at_k, len(top)), recall_at_k=hits_at_k / k)
        rows.append(row)
    result = pd.DataFrame(rows, index=pd.Index(ISSUES, name="issue"), columns=EVALUATION_COLUMNS)
    return result.astype({"n_planted": int, "n_flagged": int, "true_positives": int})


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")

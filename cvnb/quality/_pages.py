"""Review pages of a quality report: filter, sort, group and page its rows for a person.

Plain functions over pandas/numpy, importable without any widget library: the dataset
inspector (``cvnb.widgets.inspect_dataset``) is a thin view over them, and a script can use
them directly to build its own review queue. The table follows the :class:`QualityReport`
schema: ``path``, ``label``, ``split``, ``width``, ``height``, and for every issue
``<issue>_score`` (lower is worse) and ``is_<issue>``, plus ``exact_group`` /
``near_group`` (-1 when none).

Also here: where a cleaning journal goes by default (:func:`default_journal_path`, under
the run folder) and the check that refuses a journal inside the image folder
(:func:`check_journal_location`): cvnb only ever reads a user's image folders.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Container
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ALL",
    "ANY",
    "DEFAULT_JOURNAL_NAME",
    "check_journal_location",
    "checked_table",
    "class_balance",
    "decision_counts",
    "default_journal_path",
    "image_root",
    "issue_columns",
    "json_keys",
    "page_items",
    "page_starts",
    "select_rows",
    "worst_flagged",
]

DEFAULT_JOURNAL_NAME = "cleaning_journal.jsonl"

ALL = "all"  # every image; flagged ones first, worst first
ANY = "any"  # images flagged by at least one issue, worst first
# Issues whose members are shown side by side, and the group id column that joins them.
GROUP_COLUMN = {
    "exact_duplicate": "exact_group",
    "near_duplicate": "near_group",
    "leakage": "near_group",
}


def issue_columns(table: pd.DataFrame) -> list[str]:
    """Issues the table has both ``<issue>_score`` and ``is_<issue>`` columns for, in order."""
    return [c[3:] for c in table.columns if c.startswith("is_") and f"{c[3:]}_score" in table]


def checked_table(report: Any) -> pd.DataFrame:
    """The report's table with absolute paths, after checking it has what the view needs."""
    table = getattr(report, "table", report)
    if not isinstance(table, pd.DataFrame):
        raise ValueError(
            f"inspect_dataset needs a QualityReport (from cvnb.quality.scan_quality) or its "
            f"table, got {type(report).__name__}."
        )
    missing = [c for c in ("path", "label", "split") if c not in table]
    if missing or not issue_columns(table):
        raise ValueError(
            f"The report table lacks {missing or 'any <issue>_score / is_<issue> columns'}; "
            "pass the report that cvnb.quality.scan_quality returned."
        )
    if not table.index.is_unique:
        raise ValueError("The report table's index has repeated labels; reset_index() it first.")
    # Journal paths are absolute, so the table's are too (they usually are already).
    return table.assign(path=[os.path.abspath(str(p)) for p in table["path"]])


def json_keys(index: pd.Index) -> list[Any]:
    """Index labels as JSON-safe values: ints for an integer index, else strings."""
    if pd.api.types.is_integer_dtype(index.dtype):
        return [int(k) for k in index]
    keys = [str(k) for k in index]
    if len(set(keys)) != len(keys):
        raise ValueError("The report table's index labels are not unique as text.")
    return keys


def select_rows(
    table: pd.DataFrame,
    *,
    label: str = ALL,
    split: str = ALL,
    issue: str = ANY,
    flagged_only: bool = True,
) -> pd.DataFrame:
    """Rows of ``table`` to show, in display order, with the issue and score each is shown for.

    Args:
        table: A quality report's table.
        label: Keep rows whose label (as text) equals this; ``"all"`` keeps every class.
        split: Keep rows of this split; ``"all"`` keeps every split.
        issue: An issue name, ``"any"`` (rows flagged by some issue, each shown for its worst
            flagged issue) or ``"all"`` (every row; unflagged rows last, in table order).
        flagged_only: For a named issue, keep only rows flagged for it (``is_<issue>``);
            ``False`` keeps every row with a score, the whole ranking.

    Returns:
        A frame with a RangeIndex and columns ``pos`` (row position in ``table``), ``issue``
        (the issue shown, ``""`` for unflagged rows under ``"all"``), ``score`` (its score,
        NaN when none) and ``group`` (duplicate group id, -1 outside duplicate issues). Rows
        are sorted by score, worst (lowest) first. For ``exact_duplicate``,
        ``near_duplicate`` and ``leakage`` the members of a group are adjacent, groups
        ordered by their worst member.

    Raises:
        ValueError: If ``issue`` is not a column of the table, ``"any"`` or ``"all"``.
    """
    issues = issue_columns(table)
    mask = np.ones(len(table), dtype=bool)
    if label != ALL:
        mask &= (table["label"].astype(str) == label).to_numpy()
    if split != ALL:
        mask &= (table["split"].astype(str) == split).to_numpy()

    if issue in (ALL, ANY):
        shown_issue, score = worst_flagged(table, issues)
        if issue == ANY:
            mask &= shown_issue != ""
    elif issue in issues:
        score = table[f"{issue}_score"].to_numpy(dtype=float)
        if flagged_only:
            mask &= table[f"is_{issue}"].fillna(False).to_numpy(dtype=bool)
        else:
            mask &= ~np.isnan(score)
        shown_issue = np.full(len(table), issue, dtype=object)
    else:
        raise ValueError(
            f"issue={issue!r} is not one of the report's issues {issues}, 'any' or 'all'."
        )

    pos = np.flatnonzero(mask)
    score = np.asarray(score, dtype=float)[pos]
    groups = np.full(len(pos), -1, dtype=np.int64)
    column = GROUP_COLUMN.get(issue)
    if column is not None and column in table:
        groups = table[column].fillna(-1).to_numpy(dtype=np.int64)[pos]
    order = _display_order(pos, score, groups)
    return pd.DataFrame(
        {
            "pos": pos[order],
            "issue": shown_issue[pos][order] if len(pos) else np.array([], dtype=object),
            "score": score[order],
            "group": groups[order],
        }
    )


def worst_flagged(table: pd.DataFrame, issues: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: its worst (lowest-scoring) flagged issue, or "" when none, and that score."""
    n = len(table)
    if not issues:
        return np.full(n, "", dtype=object), np.full(n, np.nan)
    flags = table[[f"is_{i}" for i in issues]].fillna(False).to_numpy(dtype=bool)
    scores = table[[f"{i}_score" for i in issues]].to_numpy(dtype=float)
    flagged = np.where(flags, np.nan_to_num(scores, nan=0.0), np.inf)
    worst = flagged.argmin(axis=1)
    any_flag = flags.any(axis=1)
    names = np.where(any_flag, np.asarray(issues, dtype=object)[worst], "")
    return names.astype(object), np.where(any_flag, flagged[np.arange(n), worst], np.nan)


def _display_order(pos: np.ndarray, score: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Worst first (NaN last, ties in table order), keeping each duplicate group together."""
    filled = np.where(np.isnan(score), np.inf, score)
    if not (groups >= 0).any():
        return np.lexsort((pos, filled))
    # A row outside any group is a group of its own (a unique negative id).
    gid = np.where(groups >= 0, groups, -1 - pos)
    group_worst = pd.Series(filled).groupby(gid).transform("min").to_numpy()
    return np.lexsort((pos, filled, gid, group_worst))


def page_starts(groups: np.ndarray, page_size: int) -> np.ndarray:
    """Start offsets of the pages of ``len(groups)`` rows, plus the end as the last entry.

    Pages hold ``page_size`` rows, except that a duplicate group (consecutive equal ids
    ≥ 0) is not split across pages unless it is larger than a page on its own.

    Args:
        groups: Group id per displayed row (see :func:`select_rows`); -1 for none.
        page_size: Rows per page (≥ 1).

    Returns:
        Offsets ``[0, s1, …, n]``; page ``p`` is rows ``starts[p]:starts[p + 1]``. An empty
        selection has one empty page: ``[0, 0]``.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}.")
    groups = np.asarray(groups)
    n = len(groups)
    if n == 0:
        return np.array([0, 0])
    if not (groups >= 0).any():
        return np.append(np.arange(0, n, page_size), n)
    # Runs: a new run starts where the id changes or the row has no group.
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (groups[1:] != groups[:-1]) | (groups[1:] < 0)
    begins = np.flatnonzero(new_run)
    starts, current = [0], 0
    for begin, end in zip(begins.tolist(), [*begins[1:].tolist(), n], strict=True):
        if end - current <= page_size:
            continue  # the run fits on the current page
        if begin > current:
            current = begin
            starts.append(current)
        while end - current > page_size:  # a run larger than a page is split
            current += page_size
            starts.append(current)
    starts.append(n)
    return np.asarray(starts)


def decision_counts(decisions: pd.DataFrame, paths: Container[str]) -> dict[str, int]:
    """How many images of ``paths`` carry each latest journal decision.

    Args:
        decisions: A journal's latest decision per path (index = path, column ``decision``).
        paths: The report's absolute image paths (a set, for speed); journal entries for
            other images are not counted.

    Returns:
        ``{"excluded": …, "relabelled": …, "kept": …}``.
    """
    mine = [p in paths for p in decisions.index]
    counts = decisions.loc[mine, "decision"].value_counts() if len(decisions) else {}
    return {
        "excluded": int(counts.get("exclude", 0)),
        "relabelled": int(counts.get("relabel", 0)),
        "kept": int(counts.get("keep", 0)),
    }


def page_items(
    table: pd.DataFrame, rows: pd.DataFrame, keys: list[Any], decisions: pd.DataFrame
) -> list[dict[str, Any]]:
    """JSON-ready descriptions of the displayed ``rows`` (a slice of :func:`select_rows`).

    Args:
        table: The report table (``path`` holds absolute paths).
        rows: The page's rows: ``pos``, ``issue``, ``score``, ``group``.
        keys: JSON-safe index label per table row (int or str), what actions refer to.
        decisions: The journal's latest decision per path.

    Returns:
        One dict per row: ``index``, ``path``, ``label``, ``split``, ``issue``, ``score``
        (float or None), ``group``, ``decision`` (``""``, ``"exclude"``, ``"relabel"`` or
        ``"keep"``), ``new_label`` (the relabel target, else ``""``), ``suggested`` (the
        scan's suggested label, else ``""``) and ``reason`` (why the file is unreadable,
        else ``""``).
    """
    part = table.iloc[rows["pos"].to_numpy()]
    n = len(part)

    def column(name: str) -> list[str]:
        return [_text(v) for v in part[name]] if name in part else [""] * n

    paths = part["path"].tolist()
    latest = decisions.reindex(paths) if len(decisions) else None
    decided = [""] * n if latest is None else [_text(v) for v in latest["decision"]]
    targets = [""] * n if latest is None else [_text(v) for v in latest["label"]]
    keys_shown = [keys[pos] for pos in rows["pos"]]
    scores = [None if math.isnan(v) else round(float(v), 4) for v in rows["score"]]
    fields = zip(
        keys_shown,
        paths,
        column("label"),
        column("split"),
        rows["issue"].tolist(),
        scores,
        rows["group"].tolist(),
        decided,
        [t if d == "relabel" else "" for d, t in zip(decided, targets, strict=True)],
        column("suggested_label"),
        column("unreadable_reason"),
        strict=True,
    )
    names = ("index", "path", "label", "split", "issue", "score", "group", "decision")
    names += ("new_label", "suggested", "reason")
    return [dict(zip(names, values, strict=True)) for values in fields]


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def class_balance(before: pd.DataFrame, after: pd.DataFrame) -> list[dict[str, Any]]:
    """Images per class before and after the journal, sorted by class name.

    Args:
        before: The report table (``label``).
        after: The same table with the journal applied (excluded rows dropped, relabelled
            rows carrying their new ``label``), e.g. from ``cvnb.quality.apply_journal``.

    Returns:
        ``[{"label": …, "before": n, "after": m}, …]``; a class that only relabels created
        has ``before == 0``.
    """
    counts = pd.DataFrame(
        {
            "before": before["label"].dropna().astype(str).value_counts(),
            "after": after["label"].dropna().astype(str).value_counts(),
        }
    ).fillna(0)
    return [
        {"label": str(label), "before": int(row.before), "after": int(row.after)}
        for label, row in counts.sort_index().iterrows()
    ]


def image_root(table: pd.DataFrame) -> Path | None:
    """The deepest folder that holds every image of ``table`` (None for an empty table)."""
    folders = {os.path.dirname(os.path.abspath(str(p))) for p in table["path"]}
    if not folders:
        return None
    return Path(os.path.commonpath(sorted(folders)))


def default_journal_path(table: pd.DataFrame, run_folder: str | os.PathLike = "runs") -> Path:
    """Where a cleaning journal goes when none is given: under the run folder, never beside
    the images.

    ``<run_folder>/clean/<image folder name>-<8 hex digits>/cleaning_journal.jsonl``: one
    journal per image folder (the digits are a hash of the folder's absolute path, so two
    folders with the same name do not share a journal), found again on the next session
    from the same working directory.

    Args:
        table: The report table (``path``).
        run_folder: The run folder, relative to the working directory (default ``runs``).
    """
    root = image_root(table)
    if root is None:
        return Path(run_folder) / "clean" / DEFAULT_JOURNAL_NAME
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return Path(run_folder) / "clean" / f"{root.name or 'images'}-{digest}" / DEFAULT_JOURNAL_NAME


def check_journal_location(journal_path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Refuse a journal file inside the folder that holds the images.

    cvnb promises that image folders are only read; a journal written there would also be
    picked up by the next ``load_images`` of that folder's parent, or synced with the
    images. Decisions belong to the run.

    Raises:
        ValueError: ``journal_path`` lies inside :func:`image_root` of ``table``; the message
            names a place under the run folder instead.
    """
    root = image_root(table)
    if root is None:
        return
    path = Path(os.path.abspath(journal_path))
    if path.is_relative_to(root):
        raise ValueError(
            f"the journal {str(journal_path)!r} would be written inside the image folder "
            f"{str(root)!r}; cvnb only reads image folders. Keep decisions with the run, "
            f"e.g. {str(default_journal_path(table))!r} (the default when journal=None)."
        )

"""apply_journal: a cleaned copy of the dataset table, with the journal's decisions applied."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import PurePath

import pandas as pd

from ._journal import Journal

__all__ = ["apply_journal"]


def apply_journal(
    df: pd.DataFrame,
    journal: Journal | str | os.PathLike[str],
    *,
    reroot: Mapping[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
) -> pd.DataFrame:
    """The cleaned table: ``df`` with the journal's latest decision per image applied.

    Rows whose latest decision is ``exclude`` are dropped; ``relabel`` rows get the new
    ``label``; ``keep`` rows (and rows without decision) stay as they are. The result has an
    ``original_label`` column holding each row's label before the journal (kept as it is when
    ``df`` already has one, so applying a journal twice is harmless). The index of ``df`` is
    kept, so rows still line up with a :class:`QualityReport` table. ``df`` itself and the
    image files are not changed.

    Paths are matched as absolute paths. Journal entries for images not in ``df`` are not
    applied: they are counted in ``result.attrs["journal"]["unmatched"]`` and a
    ``UserWarning`` gives the count, an example and, when the table holds a file with the
    same tail of folders, the ``reroot`` that would match it (the usual cause: the dataset
    moved since the decisions were made).

    Args:
        df: A dataset table with a ``path`` column (and ``label`` when the journal has
            relabels), e.g. from :func:`cvnb.data.load_images`.
        journal: A :class:`Journal`, or the path of a journal file (a missing file is an
            empty journal).
        reroot: ``{old_prefix: new_prefix}``: journal paths under ``old_prefix`` are read
            as under ``new_prefix`` (both made absolute), for a dataset that moved.

    Returns:
        A new DataFrame. ``attrs["journal"]`` counts ``excluded``, ``relabelled``, ``kept``
        and ``unmatched`` decisions.

    Raises:
        ValueError: If ``df`` has no ``path`` column, or the journal relabels rows of a
            table without a ``label`` column.
        JournalError: If the journal file is malformed (the message names the line).

    Example:
        >>> clean = apply_journal(load_images("data/pets"), "runs/clean/journal.jsonl")  # doctest: +SKIP
        >>> clean.attrs["journal"]  # doctest: +SKIP
        {'excluded': 12, 'relabelled': 3, 'kept': 40, 'unmatched': 0}
    """
    if "path" not in df.columns:
        raise ValueError("The table has no 'path' column; pass a table from load_images().")
    if not isinstance(journal, Journal):
        journal = Journal(journal)
    decided = journal.decisions()
    if reroot:
        decided = decided.set_axis([_rerooted(p, reroot) for p in decided.index])
    out = df.copy()
    abspaths = pd.Series([os.path.abspath(os.fspath(p)) for p in out["path"]], index=out.index)
    matched = decided[decided.index.isin(set(abspaths))]
    by_path = matched["decision"]
    decision = abspaths.map(by_path)
    relabel = decision == "relabel"
    if relabel.any():
        if "label" not in out.columns:
            raise ValueError(
                "The journal relabels images but the table has no 'label' column; add the "
                "labels (or apply the journal to the table the decisions were made on)."
            )
        if "original_label" not in out.columns:
            out["original_label"] = out["label"]
        new = _like(abspaths[relabel].map(matched["label"]), df["label"])
        if not pd.api.types.is_numeric_dtype(out["label"].dtype):
            out["label"] = out["label"].astype(object)  # categorical/str: any new label fits
        out.loc[relabel, "label"] = new
    elif "label" in out.columns and "original_label" not in out.columns:
        out["original_label"] = out["label"]
    out = out[decision != "exclude"]
    unmatched = decided.index[~decided.index.isin(set(abspaths))]
    if len(unmatched):
        warnings.warn(_unmatched_message(list(unmatched), list(abspaths)), stacklevel=2)
    out.attrs["journal"] = {
        "excluded": int((decision == "exclude").sum()),
        "relabelled": int(relabel.sum()),
        "kept": int((decision == "keep").sum()),
        "unmatched": int(len(decided) - len(matched)),
    }
    return out


def _rerooted(path: str, reroot: Mapping) -> str:
    for old, new in reroot.items():
        old_abs = os.path.abspath(os.fspath(old))
        if path == old_abs or path.startswith(old_abs.rstrip(os.sep) + os.sep):
            return os.path.abspath(os.fspath(new)) + path[len(old_abs.rstrip(os.sep)) :]
    return path


def _unmatched_message(unmatched: list[str], paths: list[str]) -> str:
    """The warning for journal paths not in the table, with a ``reroot`` guess if one fits."""
    message = (
        f"{len(unmatched)} journal decision(s) name images that are not in the table (e.g. "
        f"{unmatched[0]!r}); they were not applied."
    )
    guess = _guess_reroot(unmatched[0], paths)
    if guess:
        return message + (
            f" The table has the same file under another folder: if the dataset moved, pass "
            f"reroot={{{guess[0]!r}: {guess[1]!r}}}."
        )
    return message + " If the dataset moved, pass reroot={old_folder: new_folder}."


def _guess_reroot(path: str, paths: list[str]) -> tuple[str, str] | None:
    """(old prefix, new prefix) when a table path shares ``path``'s file name and folders."""
    parts = PurePath(path).parts
    best, best_tail = None, 0
    for other in paths:
        if os.path.basename(other) != parts[-1]:
            continue
        theirs = PurePath(other).parts
        tail = 0
        while tail < min(len(parts), len(theirs)) and parts[-1 - tail] == theirs[-1 - tail]:
            tail += 1
        if tail > best_tail and tail < len(parts) and tail < len(theirs):
            best, best_tail = other, tail
    if best is None:
        return None
    old = str(PurePath(*parts[: len(parts) - best_tail]))
    theirs = PurePath(best).parts
    return old, str(PurePath(*theirs[: len(theirs) - best_tail]))


def _like(new: pd.Series, existing: pd.Series) -> pd.Series:
    """Journal labels are strings; give them the table's label type when it is numeric."""
    if pd.api.types.is_numeric_dtype(existing.dtype):
        try:
            return pd.to_numeric(new).astype(existing.dtype)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"The journal gives labels {sorted(set(new))[:5]} that do not fit the table's "
                f"{existing.dtype} label column; use labels of the same kind."
            ) from err
    return new

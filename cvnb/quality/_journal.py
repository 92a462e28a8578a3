"""The cleaning journal: exclude / relabel / keep decisions, appended to a JSONL or CSV file.

The journal is how cleaning stays non-destructive: images are never moved,
rewritten or deleted; each decision is one line in a file, and :func:`apply_journal` turns a
table plus a journal into the cleaned table. Undo drops lines.

Pure logic: no ipywidgets, traitlets or IPython here.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["DECISIONS", "Journal", "JournalError"]

#: The decisions a journal records: drop the image, give it a new label, or mark it reviewed.
DECISIONS = ("exclude", "relabel", "keep")

#: The fields of one entry, in file order (JSONL keys and CSV columns).
FIELDS = ("id", "time", "path", "decision", "label", "reason", "issue", "score")

PathOrPaths = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


class JournalError(ValueError):
    """A journal file that cannot be read, or a decision that cannot be recorded."""


class Journal:
    """A file of cleaning decisions, one per line, that survives kernel restarts.

    Each call re-reads the file, so two ``Journal`` objects on one file (say, the dataset
    inspector widget and a code cell) always agree. Entries are appended with a flush and an
    ``fsync``; :meth:`undo` rewrites the file atomically (a temporary file, then
    ``os.replace``). The file is created on the first write. Nothing here ever touches an
    image file.

    Paths are stored as absolute paths (``os.path.abspath``), so they match the ``path``
    column of :func:`cvnb.data.load_images` tables. When a path has several entries, the
    latest one is its decision: a ``keep`` recorded after an ``exclude`` brings the image
    back (see :meth:`decisions`).

    Args:
        path: The journal file. ``.jsonl`` (one JSON object per line; also ``.ndjson``) or
            ``.csv`` (a header line, then one row per entry), chosen by the suffix.

    Attributes:
        path: The journal file, as a ``Path``.
        format: ``"jsonl"`` or ``"csv"``.

    Raises:
        JournalError: If the suffix is neither ``.jsonl`` nor ``.csv``.

    Example:
        >>> journal = Journal("runs/clean/journal.jsonl")  # doctest: +SKIP
        >>> journal.exclude(df.path[0], reason="blurry", issue="blurry", score=0.02)  # doctest: +SKIP
        >>> journal.relabel(df.path[1], "7", reason="it is a seven")  # doctest: +SKIP
        >>> clean = apply_journal(df, journal)  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(os.path.abspath(Path(path).expanduser()))
        fmt = _FORMATS.get(self.path.suffix.lower())
        if fmt is None:
            raise JournalError(
                f"Unknown journal format {self.path.suffix or '(no suffix)'!r} for "
                f"{str(self.path)!r}; name the file *.jsonl (JSON lines) or *.csv."
            )
        self.format = fmt

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r}, {len(self)} entries)"

    def __len__(self) -> int:
        return len(self._read())

    # -- writing ---------------------------------------------------------------------------

    def record(
        self,
        path: PathOrPaths,
        decision: str,
        *,
        label: Any = None,
        reason: str = "",
        issue: str | None = None,
        score: float | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Append one decision for ``path`` (or the same decision for each path of a list).

        Args:
            path: An image path, or a list of them; stored as absolute paths.
            decision: One of :data:`DECISIONS`.
            label: The new label; required for ``"relabel"`` and refused otherwise.
            reason: Free text: why (shown back in the inspector).
            issue: The issue that led to the decision, e.g. ``"near_duplicate"``.
            score: The issue's score for the image, if any (NaN is stored as empty).

        Returns:
            The entry written, as a dict with keys :data:`FIELDS` (a list of entries when
            ``path`` is a list).

        Raises:
            JournalError: If the decision is unknown, a relabel has no label, or a label is
                given with another decision.
        """
        if decision not in DECISIONS:
            raise JournalError(f"Unknown decision {decision!r}; use one of {list(DECISIONS)}.")
        if decision == "relabel" and (label is None or str(label) == ""):
            raise JournalError("A relabel needs the new label: journal.relabel(path, label).")
        if decision != "relabel" and label is not None:
            raise JournalError(f"A {decision!r} decision takes no label; use relabel.")
        single = isinstance(path, (str, os.PathLike))
        paths = [path] if single else list(path)  # type: ignore[list-item]
        now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        entries = [
            {
                "id": uuid.uuid4().hex[:16],
                "time": now,
                "path": os.path.abspath(os.fspath(p)),
                "decision": decision,
                "label": None if label is None else str(label),
                "reason": str(reason or ""),
                "issue": None if issue in (None, "") else str(issue),
                "score": _clean_score(score),
            }
            for p in paths
        ]
        if entries:
            self._append(entries)
        return entries[0] if single else entries

    def exclude(
        self,
        path: PathOrPaths,
        *,
        reason: str = "",
        issue: str | None = None,
        score: float | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Record that ``path`` (one path or a list) is dropped from the dataset."""
        return self.record(path, "exclude", reason=reason, issue=issue, score=score)

    def relabel(
        self,
        path: PathOrPaths,
        label: Any,
        *,
        reason: str = "",
        issue: str | None = None,
        score: float | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Record that ``path`` (one path or a list) gets the label ``label``."""
        return self.record(path, "relabel", label=label, reason=reason, issue=issue, score=score)

    def keep(
        self,
        path: PathOrPaths,
        *,
        reason: str = "",
        issue: str | None = None,
        score: float | None = None,
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """Record that ``path`` (one path or a list) was reviewed and stays as it is.

        A ``keep`` recorded after an ``exclude`` or ``relabel`` of the same image undoes
        their effect in :func:`apply_journal` (the latest decision wins) while keeping the
        history in the file.
        """
        return self.record(path, "keep", reason=reason, issue=issue, score=score)

    def undo(
        self,
        path: PathOrPaths | None = None,
        *,
        entry_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Drop entries from the file (atomically rewritten) and return them.

        Args:
            path: ``None`` drops the last entry; a path (or a list of paths) drops every
                entry for it, so the image has no decision any more.
            entry_id: Drop the entry with this ``id`` instead.

        Returns:
            The dropped entries, oldest first ([] when there was nothing to drop).
        """
        entries = self._read()
        if entry_id is not None:
            drop = [i for i, e in enumerate(entries) if e["id"] == entry_id]
        elif path is None:
            drop = [len(entries) - 1] if entries else []
        else:
            many = [path] if isinstance(path, (str, os.PathLike)) else list(path)
            targets = {os.path.abspath(os.fspath(p)) for p in many}
            drop = [i for i, e in enumerate(entries) if e["path"] in targets]
        if not drop:
            return []
        dropped = set(drop)
        self._rewrite([e for i, e in enumerate(entries) if i not in dropped])
        return [entries[i] for i in drop]

    # -- reading ---------------------------------------------------------------------------

    def entries(self) -> pd.DataFrame:
        """Every entry, oldest first: columns ``id, time, path, decision, label, reason,
        issue, score`` (``score`` float, NaN when none; ``label`` and ``issue`` None when none)."""
        entries = self._read()
        columns = {k: pd.Series([e[k] for e in entries], dtype=object) for k in FIELDS}
        columns["score"] = pd.Series([e["score"] for e in entries], dtype=float)
        return pd.DataFrame(columns)

    def decisions(self) -> pd.DataFrame:
        """The latest decision per image: index ``path``, the other :data:`FIELDS` as
        columns.

        The latest entry for a path wins, whatever the earlier ones said: ``exclude`` then
        ``keep`` means kept, ``relabel`` then ``exclude`` means excluded.
        """
        latest = self.entries().drop_duplicates("path", keep="last")
        return latest.set_index("path")

    # -- file format -----------------------------------------------------------------------

    def _read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return (
            _parse_csv(text, self.path) if self.format == "csv" else _parse_jsonl(text, self.path)
        )

    def _serialize(self, entries: list[dict[str, Any]], *, header: bool) -> str:
        if self.format == "jsonl":
            return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
        if header:
            writer.writeheader()
        for e in entries:
            writer.writerow({k: "" if e[k] is None else e[k] for k in FIELDS})
        return buffer.getvalue()

    def _append(self, entries: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write call per batch in append mode: entries from two Journal objects on one
        # file interleave by whole batches, never mid-line.
        with open(self.path, "a", encoding="utf-8", newline="") as fh:
            fh.write(self._serialize(entries, header=fh.tell() == 0))
            fh.flush()
            os.fsync(fh.fileno())

    def _rewrite(self, entries: list[dict[str, Any]]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(self._serialize(entries, header=True))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _clean_score(score: float | None) -> float | None:
    if score is None:
        return None
    value = float(score)
    return None if math.isnan(value) else value


def _checked(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate one entry read from the file and normalize its types."""
    missing = [k for k in ("path", "decision") if raw.get(k) in (None, "")]
    if missing:
        raise JournalError(f"{where} has no {' or '.join(missing)}; fix or remove that line.")
    decision = raw["decision"]
    if decision not in DECISIONS:
        raise JournalError(
            f"{where} has unknown decision {decision!r} (expected one of {list(DECISIONS)}); "
            "fix or remove that line."
        )
    label = raw.get("label")
    label = None if label in (None, "") else str(label)
    if decision == "relabel" and label is None:
        raise JournalError(f"{where} is a relabel without a label; fix or remove that line.")
    score = raw.get("score")
    try:
        score = None if score in (None, "") else _clean_score(float(score))
    except (TypeError, ValueError):
        raise JournalError(f"{where} has a score that is not a number: {score!r}.") from None
    issue = raw.get("issue")
    return {
        "id": str(raw.get("id") or ""),
        "time": str(raw.get("time") or ""),
        "path": str(raw["path"]),
        "decision": decision,
        "label": label,
        "reason": str(raw.get("reason") or ""),
        "issue": None if issue in (None, "") else str(issue),
        "score": score,
    }


def _parse_jsonl(text: str, path: Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"Line {number} of journal {str(path)!r}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            raise JournalError(
                f"{where} is not valid JSON ({err.msg}); fix or remove that line."
            ) from None
        if not isinstance(raw, dict):
            raise JournalError(f"{where} is not a JSON object; fix or remove that line.")
        entries.append(_checked(raw, where))
    return entries


def _parse_csv(text: str, path: Path) -> list[dict[str, Any]]:
    if not text.strip():
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    if [h.strip() for h in header] != list(FIELDS):
        raise JournalError(
            f"Line 1 of journal {str(path)!r} is not the header {','.join(FIELDS)}; this is "
            "not a cvnb journal (or its header was edited)."
        )
    entries = []
    for row in reader:
        where = f"Line {reader.line_num} of journal {str(path)!r}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(FIELDS):
            raise JournalError(
                f"{where} has {len(row)} fields, expected {len(FIELDS)}; fix or remove that line."
            )
        entries.append(_checked(dict(zip(FIELDS, row, strict=True)), where))
    return entries

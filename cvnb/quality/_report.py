"""The quality report: one row per image with a score and a flag per issue, and a summary.

Pure logic: no ipywidgets, traitlets or IPython here; the HTML view is a
plain ``_repr_html_`` that Jupyter picks up by itself. Both engines (built-in and fastdup)
return this same type, so everything downstream (the inspector widget, ``evaluate_scan``,
the journal) reads one schema.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "GROUP_KINDS",
    "ISSUES",
    "ISSUE_DESCRIPTIONS",
    "RANKED_ISSUES",
    "QualityReport",
    "issue_summary",
]

ISSUES = (
    "unreadable",
    "exact_duplicate",
    "near_duplicate",
    "leakage",
    "dark",
    "bright",
    "blurry",
    "low_information",
    "odd_size",
    "odd_aspect",
    "grayscale",
    "outlier",
    "label_issue",
)
#: Issues that are judged by ranking too (precision@k in ``evaluate_scan``).
RANKED_ISSUES = ("near_duplicate", "outlier", "label_issue")
#: ``groups(kind)``: kind → the table column holding the group ids.
GROUP_KINDS = {"exact": "exact_group", "near": "near_group"}

#: One line per issue, shown in the summary (how each score is computed is in
#: :func:`cvnb.quality._scan.scan_quality`'s docstring).
ISSUE_DESCRIPTIONS = {
    "unreadable": "file cannot be decoded (reason in unreadable_reason)",
    "exact_duplicate": "byte-identical to another file (same sha256)",
    "near_duplicate": "perceptual hash or embedding close to another image",
    "leakage": "duplicate group spans more than one split",
    "dark": "even the brightest pixels are dark",
    "bright": "even the darkest pixels are bright (overexposed)",
    "blurry": "edges much softer than the rest of the set",
    "low_information": "few distinct intensities (near-constant image)",
    "odd_size": "pixel count far from the set's typical size",
    "odd_aspect": "aspect ratio far from the set's typical shape",
    "grayscale": "no colour in a set that is mainly colour",
    "outlier": "embedding far from its nearest neighbours",
    "label_issue": "a probe on the embeddings predicts another label",
}

_SUMMARY_COLUMNS = ["n_flagged", "fraction", "threshold", "description"]
_DATASET_COLUMNS = ["score", "is_issue", "detail"]
_SIDECAR_VERSION = 1
_OBJECT_COLUMNS = (
    "path",
    "label",
    "split",
    "unreadable_reason",
    "nearest_index",
    "suggested_label",
)


@dataclass(eq=False, repr=False)
class QualityReport:
    """The result of :func:`cvnb.quality.scan_quality`: per-image scores and flags.

    Every score is in [0, 1] and lower is worse; ``is_<issue>`` says whether the image is
    flagged (False where the score is NaN). How each score is computed, and what its default
    threshold means, is documented in :func:`cvnb.quality.scan_quality`.

    Attributes:
        table: One row per input row, with the input's index. Columns: ``path``, ``label``,
            ``split``, ``width``, ``height``; for each issue in :data:`ISSUES` a float
            ``<issue>_score`` and a bool ``is_<issue>``; ``unreadable_reason`` ("" when the
            file reads); ``exact_group`` / ``near_group`` (small ints, -1 when the image has
            no duplicate; a near group holds its exact members too); ``nearest_index``
            (index label of the most similar other image by embedding, or None) and
            ``nearest_similarity`` (its cosine); ``suggested_label`` (the probe's label where
            it differs from the given one, else None) and ``label_confidence`` (out-of-fold
            probability of the given label).
        summary: Index = issue; columns ``n_flagged``, ``fraction`` (of all rows),
            ``threshold`` and ``description``.
        dataset_issues: Index = dataset-level issue (``class_imbalance``); columns
            ``score``, ``is_issue``, ``detail``.
        thresholds: The thresholds used (flag when ``score < threshold``), plus the extra
            settings that shaped the scores.
        engine: ``"builtin"`` or ``"fastdup"``.
        settings: How the scan ran (embedder key, cache path and hit counts, timings…).

    Example:
        >>> report = scan_quality(df)  # doctest: +SKIP
        >>> report.flagged("blurry").head()  # doctest: +SKIP
        >>> report.groups("near")[:3]  # doctest: +SKIP
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    dataset_issues: pd.DataFrame
    thresholds: dict[str, float]
    engine: str = "builtin"
    settings: dict[str, Any] = field(default_factory=dict)

    def ranked(self, issue: str) -> pd.DataFrame:
        """Every row with a score for ``issue``, worst (lowest score) first.

        Ties keep the table's order, so the ranking is deterministic.
        """
        score = self.table[f"{_check_issue(issue)}_score"]
        order = np.argsort(score.to_numpy(dtype=float), kind="stable")
        rows = self.table.iloc[order]
        return rows[rows[f"{issue}_score"].notna()]

    def flagged(self, issue: str) -> pd.DataFrame:
        """The rows flagged for ``issue`` (``is_<issue>`` True), worst first."""
        ranked = self.ranked(issue)
        return ranked[ranked[f"is_{issue}"].astype(bool)]

    def groups(self, kind: str = "near") -> list[list[Any]]:
        """Duplicate sets as lists of table index labels (each of two or more), by group id.

        Args:
            kind: ``"exact"`` (byte-identical files) or ``"near"`` (near duplicates,
                exact ones included).
        """
        if kind not in GROUP_KINDS:
            raise ValueError(f"kind must be one of {sorted(GROUP_KINDS)}, got {kind!r}.")
        ids = self.table[GROUP_KINDS[kind]]
        members = ids[ids >= 0]
        return [list(g.index) for _, g in members.groupby(members, sort=True) if len(g) >= 2]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as Parquet to ``path`` and the rest as JSON beside it.

        The sidecar is ``path`` with the suffix ``.json`` (``scan.parquet`` → ``scan.json``).
        Both files are written atomically (temporary file, then rename); the sidecar holds
        the table file's sha256, so :meth:`load` notices a pair that does not belong
        together.

        Returns:
            The Parquet file's path.
        """
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        table = self.table.copy()
        kinds = {
            c: _value_kind(table[c])
            for c in _OBJECT_COLUMNS
            if c in table and table[c].dtype == object
        }
        for col, kind in kinds.items():
            if kind == "mixed":  # Parquet needs one type per column
                table[col] = [None if v is None else str(v) for v in table[col]]
        data = _atomic_bytes(path, lambda tmp: table.to_parquet(tmp))
        from cvnb.runs import write_json

        write_json(
            _sidecar(path),
            {
                "version": _SIDECAR_VERSION,
                "table_sha256": hashlib.sha256(data).hexdigest(),
                "engine": self.engine,
                "thresholds": self.thresholds,
                "settings": self.settings,
                "object_columns": kinds,
                "summary": json.loads(self.summary.to_json(orient="split")),
                "dataset_issues": json.loads(self.dataset_issues.to_json(orient="split")),
            },
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> QualityReport:
        """Read a report written by :meth:`save` (``path`` is the Parquet file).

        Raises:
            FileNotFoundError: The table or its ``.json`` sidecar is missing.
            ValueError: The two files do not belong together (an interrupted save, or one
                of them replaced); save the report again.
        """
        path = Path(path).expanduser()
        side = _sidecar(path)
        for p in (path, side):
            if not p.is_file():
                raise FileNotFoundError(
                    f"No saved quality report at {str(p)!r}; QualityReport.save(path) writes "
                    "the table to path and its sidecar to path with suffix .json."
                )
        meta = json.loads(side.read_text())
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("table_sha256"):
            raise ValueError(
                f"{str(path)!r} and {str(side)!r} do not belong together (an interrupted "
                "save, or one file replaced); save the report again."
            )
        table = pd.read_parquet(path)
        for col, kind in meta.get("object_columns", {}).items():
            table[col] = _restore_objects(table[col], kind)
        return cls(
            table=table,
            summary=_frame_from_split(meta["summary"]),
            dataset_issues=_frame_from_split(meta["dataset_issues"]),
            thresholds=meta["thresholds"],
            engine=meta["engine"],
            settings=meta["settings"],
        )

    def plot(self, *, figsize: tuple[float, float] = (8.0, 4.5)) -> Figure:
        """Bar chart of flagged images per issue.

        Returns:
            A matplotlib Figure, not attached to pyplot (Jupyter shows it once, as the
            value of a cell).
        """
        from matplotlib.figure import Figure  # lazy: keeps `import cvnb.quality` cheap

        fig = Figure(figsize=figsize, layout="constrained")
        ax = fig.subplots()
        counts = self.summary["n_flagged"].reindex(ISSUES).fillna(0).astype(int)
        bars = ax.barh(list(counts.index)[::-1], counts.to_numpy()[::-1], color="tab:red")
        ax.bar_label(bars, padding=2)
        ax.set(
            title=f"Images flagged per issue ({len(self.table)} images, {self.engine} engine)",
            xlabel="images flagged",
        )
        ax.margins(x=0.12)
        return fig

    def _repr_html_(self) -> str:
        summary = self.summary.assign(fraction=self.summary["fraction"].map("{:.1%}".format))
        parts = [
            f"<p><b>{html.escape(self._headline())}</b></p>",
            summary.to_html(),
        ]
        if len(self.dataset_issues):
            parts += ["<p><b>Dataset-level</b></p>", self.dataset_issues.to_html()]
        return '<div class="cvnb-quality-report">' + "\n".join(parts) + "</div>"

    def __repr__(self) -> str:
        return f"<QualityReport: {self._headline()}>"

    def _headline(self) -> str:
        n = len(self.table)
        flags = self.table[[f"is_{i}" for i in ISSUES if f"is_{i}" in self.table]]
        bad = int(flags.any(axis=1).sum()) if len(flags.columns) else 0
        return f"{n} images, {bad} flagged by at least one issue ({self.engine} engine)"


def issue_summary(table: pd.DataFrame, thresholds: dict[str, float]) -> pd.DataFrame:
    """The report's ``summary``: per issue, images flagged, their fraction, threshold, meaning.

    Args:
        table: A report table (it needs the ``is_<issue>`` columns).
        thresholds: Threshold per issue (missing ones are NaN).
    """
    n = len(table)
    rows = []
    for issue in ISSUES:
        flagged = int(table[f"is_{issue}"].sum())
        rows.append(
            (
                flagged,
                flagged / n if n else 0.0,
                float(thresholds.get(issue, np.nan)),
                ISSUE_DESCRIPTIONS[issue],
            )
        )
    return pd.DataFrame(rows, index=pd.Index(ISSUES, name="issue"), columns=_SUMMARY_COLUMNS)


def _check_issue(issue: str) -> str:
    if issue not in ISSUES:
        raise ValueError(f"Unknown issue {issue!r}; use one of {', '.join(ISSUES)}.")
    return issue


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _atomic_bytes(path: Path, write) -> bytes:
    """Call ``write(tmp)`` on a temporary sibling, then move it over ``path``; return bytes."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        data = Path(tmp).read_bytes()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return data


def _value_kind(col: pd.Series) -> str:
    """ "int", "str", "float", "bool" or "mixed": the Python type of a column's non-null values."""
    kinds = {type(v).__name__ for v in col if v is not None and not _is_nan(v)}
    kinds = {"int" if k.startswith(("int", "uint")) else k for k in kinds}
    kinds = {"float" if k.startswith("float") else k for k in kinds}
    kinds = {"bool" if k == "bool_" else k for k in kinds}
    if not kinds:
        return "none"
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _restore_objects(col: pd.Series, kind: str) -> pd.Series:
    """Undo Parquet's typing of an object column: ints with gaps come back as floats."""
    cast = {"int": int, "float": float, "bool": bool, "str": str, "mixed": str}.get(kind)
    values = [None if v is None or (_is_nan(v)) or v is pd.NA else v for v in col]
    if cast is not None:
        values = [None if v is None else cast(v) for v in values]
    return pd.Series(values, index=col.index, dtype=object, name=col.name)


def _frame_from_split(data: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(data["data"], index=data["index"], columns=data["columns"])
    frame.index.name = "issue"
    return frame

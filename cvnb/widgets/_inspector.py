"""DatasetInspectorWidget: review a quality scan's findings and record cleaning decisions."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import anywidget
import numpy as np
import pandas as pd
import traitlets

from cvnb.quality._pages import (
    ALL,
    ANY,
    check_journal_location,
    checked_table,
    class_balance,
    decision_counts,
    default_journal_path,
    issue_columns,
    json_keys,
    page_items,
    page_starts,
    select_rows,
    worst_flagged,
)
from cvnb.widgets._assets import asset_path, widget_css
from cvnb.widgets._base import dispatch_action, report_errors
from cvnb.widgets._inspector_view import ThumbnailCache, figure_png, size_figure

if TYPE_CHECKING:
    from cvnb.quality._journal import Journal
    from cvnb.quality._report import QualityReport

__all__ = ["DatasetInspectorWidget", "inspect_dataset"]

REASON = "inspector"
# Action kinds the browser sends, with the request keys passed to the method of that name.
_ACTIONS = {
    "exclude": ("index",),
    "keep": ("index",),
    "relabel": ("index", "label"),
    "undo": ("index?",),
}


class DatasetInspectorWidget(anywidget.AnyWidget):
    """A paged gallery of a quality report's images, with decisions written to a journal.

    Build one with :func:`inspect_dataset`. Only the current page's thumbnails are encoded
    and sent (binary buffers; recently seen ones are cached). Every trait is synced, so a
    cell drives the widget as the browser does: ``w.issue_filter = "blurry"; w.items[:3]``.
    In the browser, arrow keys move between thumbnails, ``x`` excludes, ``k`` keeps, ``r``
    opens the relabel list (Enter applies), ``u`` undoes the last journal entry, PageUp /
    PageDown change page.

    Input traits (Python ⇄ browser):
        label_filter (str): A class, or ``"all"``.
        split_filter (str): A split, or ``"all"``.
        issue_filter (str): An issue of the report, ``"any"`` (images flagged by some issue;
            default) or ``"all"`` (every image, flagged ones first). Images are sorted by
            the issue's score, worst first; for ``exact_duplicate``, ``near_duplicate`` and
            ``leakage`` the members of each duplicate group sit side by side.
        flagged_only (bool): For a named issue, only images flagged for it (default); False
            shows the whole ranking (every image with a score).
        page (int): Current page, from 0 (reset to 0 when a filter changes).
        page_size (int): Thumbnails per page (default 48); a duplicate group is not split
            across pages unless it is larger than a page.
        thumb_size (int): Display size of a thumbnail in CSS pixels (≥ 16).
        show_plots (bool): Render ``plot_png`` (default False: the browser's "image sizes"
            panel is closed, and opening it sets this).
        action (dict): A request the browser sets and the widget clears after handling:
            ``{"kind": "exclude"|"keep"|"relabel"|"undo", "index": <item index>,
            "label": <new label, for relabel>}``; ``undo`` without ``index`` drops the last
            journal entry. Failures land in ``error``.

    Output traits (Python → browser):
        images (list[bytes]): The current page's thumbnails (``b""`` for unreadable files).
        items (list[dict]): One dict per thumbnail: ``index`` (the table's index label),
            ``path``, ``label``, ``split``, ``issue`` and ``score`` (what it is shown for),
            ``group`` (duplicate group, -1 for none), ``decision`` (latest journal decision
            or ``""``), ``new_label``, ``suggested`` (the scan's suggested label) and
            ``reason`` (why a file is unreadable).
        n_pages (int): Pages of the current selection.
        counts (dict): ``shown`` (images matching the filters), ``flagged`` (images with any
            issue), and ``excluded``, ``relabelled``, ``kept`` (latest journal decisions
            among the report's images).
        classes, splits, issues (list[str]): Choices for the filters; ``issue_counts``
            (dict) gives the number of flagged images per issue.
        class_counts (list[dict]): Images per class before and after applying the journal,
            ``{"label", "before", "after"}`` each; drawn as bars, updated after decisions.
        plot_png (bytes): PNG of image sizes (width against height) and aspect ratios;
            rendered once ``show_plots`` is True.
        journal_path (str): The journal file decisions are appended to.
        error (str): Message shown in the widget's error area; empty when all is well.

    Methods ``exclude(index)``, ``keep(index)``, ``relabel(index, label)`` and
    ``undo(index=None)`` do what the keys do, for a table index label (``items[i]["index"]``);
    ``filtered`` is the selection as a table and ``paths`` the current page's paths.
    Decisions are read back from the journal file on every change, so they survive filter
    changes, a new widget on the same file, and kernel restarts.

    Args:
        report: A :class:`cvnb.quality.QualityReport`, or its table.
        journal: A :class:`cvnb.quality.Journal`, or the path of a journal file.
        **kwargs: Initial trait values.
    """

    _esm = asset_path("inspector.js")
    _css = widget_css("inspector.css")

    label_filter = traitlets.Unicode(ALL).tag(sync=True)
    split_filter = traitlets.Unicode(ALL).tag(sync=True)
    issue_filter = traitlets.Unicode(ANY).tag(sync=True)
    flagged_only = traitlets.Bool(True).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(48).tag(sync=True)
    thumb_size = traitlets.Int(96).tag(sync=True)
    show_plots = traitlets.Bool(False).tag(sync=True)
    action = traitlets.Dict().tag(sync=True)

    images = traitlets.List(traitlets.Bytes()).tag(sync=True)
    items = traitlets.List(traitlets.Dict()).tag(sync=True)
    n_pages = traitlets.Int(1).tag(sync=True)
    counts = traitlets.Dict().tag(sync=True)
    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    splits = traitlets.List(traitlets.Unicode()).tag(sync=True)
    issues = traitlets.List(traitlets.Unicode()).tag(sync=True)
    issue_counts = traitlets.Dict().tag(sync=True)
    class_counts = traitlets.List(traitlets.Dict()).tag(sync=True)
    plot_png = traitlets.Bytes(b"").tag(sync=True)
    journal_path = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        report: QualityReport | pd.DataFrame,
        journal: Journal | str | os.PathLike[str],
        **kwargs: Any,
    ) -> None:
        from cvnb.quality._journal import Journal

        self._ready = False
        self._table = checked_table(report)
        check_journal_location(getattr(journal, "path", journal), self._table)
        self._journal = journal if isinstance(journal, Journal) else Journal(journal)
        self._keys = json_keys(self._table.index)
        self._path_set = set(self._table["path"])
        self._positions = {key: pos for pos, key in enumerate(self._keys)}
        issues = issue_columns(self._table)
        self._shown_issue, self._shown_score = worst_flagged(self._table, issues)
        self._n_flagged = int((self._shown_issue != "").sum())
        self._rows = select_rows(self._table.iloc[:0])
        self._starts = np.array([0, 0])
        classes = sorted(self._table["label"].dropna().astype(str).unique())
        splits = sorted(self._table["split"].dropna().astype(str).unique())
        self._choices = {
            "label_filter": [ALL, *classes],
            "split_filter": [ALL, *splits],
            "issue_filter": [ANY, ALL, *issues],
        }
        flagged = {i: int(self._table[f"is_{i}"].fillna(False).astype(bool).sum()) for i in issues}
        super().__init__(
            classes=classes,
            splits=splits,
            issues=issues,
            issue_counts=flagged,
            journal_path=str(self._journal.path),
            **kwargs,
        )
        self._cache = ThumbnailCache(max_size=2 * self.thumb_size)
        self._ready = True
        self._refilter()
        self._refresh_balance()
        self._refresh_plot()

    # ----------------------------------------------------------------- validation
    @traitlets.validate("label_filter", "split_filter", "issue_filter")
    def _check_filter(self, proposal: Any) -> str:
        name, value = proposal["trait"].name, proposal["value"]
        if value not in self._choices[name]:
            raise traitlets.TraitError(f"{name}={value!r} is not one of {self._choices[name]}.")
        return value

    @traitlets.validate("page")
    def _check_page(self, proposal: Any) -> int:
        n_pages = len(self._starts) - 1
        if self._ready and not 0 <= proposal["value"] < n_pages:
            raise traitlets.TraitError(
                f"page={proposal['value']} is outside 0..{n_pages - 1} ({n_pages} pages)."
            )
        return proposal["value"]

    @traitlets.validate("page_size", "thumb_size")
    def _check_size(self, proposal: Any) -> int:
        low = 1 if proposal["trait"].name == "page_size" else 16
        if proposal["value"] < low:
            raise traitlets.TraitError(
                f"{proposal['trait'].name} must be at least {low}, got {proposal['value']}."
            )
        return proposal["value"]

    # ------------------------------------------------------------------ observers
    @traitlets.observe("label_filter", "split_filter", "issue_filter", "flagged_only", "page_size")
    @report_errors
    def _on_filter(self, change: Any) -> None:
        if self._ready:
            self._refilter()

    @traitlets.observe("page")
    @report_errors
    def _on_page(self, change: Any) -> None:
        if self._ready:
            self._show_page()

    @traitlets.observe("thumb_size")
    @report_errors
    def _on_thumb_size(self, change: Any) -> None:
        if self._ready:
            self._cache = ThumbnailCache(max_size=2 * change["new"])
            self._show_page()

    @traitlets.observe("show_plots")
    @report_errors
    def _on_show_plots(self, change: Any) -> None:
        self._refresh_plot()

    @traitlets.observe("action")
    @report_errors
    def _on_action(self, change: Any) -> None:
        dispatch_action(self, change["new"], _ACTIONS, clear_error=True)

    # ---------------------------------------------------------------- actions (API)
    def exclude(self, index: Any, *, reason: str = REASON) -> dict[str, Any]:
        """Record in the journal that image ``index`` (a table index label) is excluded."""
        return self._decide("exclude", index, reason=reason)

    def keep(self, index: Any, *, reason: str = REASON) -> dict[str, Any]:
        """Record that image ``index`` was reviewed and is fine as it is."""
        return self._decide("keep", index, reason=reason)

    def relabel(self, index: Any, label: Any, *, reason: str = REASON) -> dict[str, Any]:
        """Record that image ``index`` belongs to class ``label`` (stored as text)."""
        if label is None or not str(label).strip():
            raise ValueError(f"relabel needs a non-empty class name, got {label!r}.")
        return self._decide("relabel", index, label=str(label), reason=reason)

    def undo(self, index: Any = None) -> list[dict[str, Any]]:
        """Drop the journal's last entry, or every entry for image ``index``."""
        path = None if index is None else self._row_context(index)[0]
        removed = self._journal.undo(path)
        self._after_decision()
        return removed

    @property
    def filtered(self) -> pd.DataFrame:
        """The report rows matching the filters, in display order, with ``issue``/``score``."""
        rows = self._table.iloc[self._rows["pos"].to_numpy()]
        return rows.assign(
            shown_issue=self._rows["issue"].to_numpy(), shown_score=self._rows["score"].to_numpy()
        )

    @property
    def paths(self) -> list[str]:
        """Paths of the current page's images, in display order."""
        return [item["path"] for item in self.items]

    def __repr__(self) -> str:
        return (
            f"<DatasetInspectorWidget: {self.counts.get('shown', 0)} shown "
            f"(page {self.page + 1}/{self.n_pages}), journal {self.journal_path}>"
        )

    # ------------------------------------------------------------------ internals
    def _decide(
        self, decision: str, index: Any, *, label: str | None = None, reason: str
    ) -> dict[str, Any]:
        path, issue, score = self._row_context(index)
        entry = self._journal.record(
            path, decision, label=label, reason=reason, issue=issue, score=score
        )
        self._after_decision()
        return entry  # type: ignore[return-value]

    def _row_context(self, index: Any) -> tuple[str, str | None, float | None]:
        """(path, issue, score) of a row: the issue it is reviewed for, and its score."""
        key = int(index) if isinstance(index, (int, np.integer)) else index
        pos = self._positions.get(key)
        if pos is None:
            sample = ", ".join(repr(k) for k in self._keys[:3])
            raise KeyError(
                f"{index!r} is not an index label of the report's table (labels look like "
                f"{sample}); pass an item's 'index', e.g. w.items[0]['index']."
            )
        path = self._table["path"].iat[pos]
        issue: str | None = self.issue_filter
        if issue in (ANY, ALL):
            issue, score = self._shown_issue[pos] or None, self._shown_score[pos]
        else:
            score = self._table[f"{issue}_score"].iat[pos]
        score = None if score is None or math.isnan(score) else float(score)
        return path, issue, score

    def _refilter(self) -> None:
        self._rows = select_rows(
            self._table,
            label=self.label_filter,
            split=self.split_filter,
            issue=self.issue_filter,
            flagged_only=self.flagged_only,
        )
        self._starts = page_starts(self._rows["group"].to_numpy(), self.page_size)
        self._ready = False  # page 0 is shown once below, not also by _on_page
        try:
            self.page = 0
        finally:
            self._ready = True
        self.n_pages = len(self._starts) - 1
        self._show_page()

    def _show_page(self) -> None:
        rows = self._rows.iloc[self._starts[self.page] : self._starts[self.page + 1]]
        paths = self._table["path"].to_numpy()[rows["pos"].to_numpy()]
        with self.hold_sync():
            self.images = [self._cache.get(p) for p in paths]
            self._show_decisions(rows)
        self.error = ""

    def _show_decisions(
        self, rows: pd.DataFrame | None = None, decisions: pd.DataFrame | None = None
    ) -> None:
        if rows is None:
            rows = self._rows.iloc[self._starts[self.page] : self._starts[self.page + 1]]
        if decisions is None:
            decisions = self._journal.decisions()
        with self.hold_sync():
            self.items = page_items(self._table, rows, self._keys, decisions)
            self.counts = {
                "shown": len(self._rows),
                "flagged": self._n_flagged,
                **decision_counts(decisions, self._path_set),
            }

    def _after_decision(self) -> None:
        # A keep after an exclude brings an image back, so every decision can move counts.
        decisions = self._journal.decisions()
        with self.hold_sync():
            self._show_decisions(decisions=decisions)
            self._refresh_balance(decisions)

    def _refresh_balance(self, decisions: pd.DataFrame | None = None) -> None:
        from cvnb.quality import apply_journal

        if decisions is None:
            decisions = self._journal.decisions()
        # Only rows with a decision can change; apply the journal to those alone (fast).
        decided = self._table["path"].isin(decisions.index).to_numpy()
        slim = self._table[["path", "label"]]
        after = pd.concat([slim[~decided], apply_journal(slim[decided], self._journal)])
        self.class_counts = class_balance(slim, after)

    def _refresh_plot(self) -> None:
        # Sizes do not change with decisions: one render, on first demand.
        if self._ready and self.show_plots and not self.plot_png:
            self.plot_png = figure_png(size_figure(self._table))


def inspect_dataset(
    report: QualityReport | pd.DataFrame,
    journal: Journal | str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> DatasetInspectorWidget:
    """Open a quality report in the dataset inspector, recording decisions in a journal.

    Args:
        report: A :class:`cvnb.quality.QualityReport` (from ``scan_quality``), or its table.
        journal: A :class:`cvnb.quality.Journal`, or the path of a ``.jsonl``/``.csv``
            journal file. Default: ``runs/clean/<image folder>-<hash>/cleaning_journal.jsonl``
            under the working directory (:func:`cvnb.quality.default_journal_path`), created
            on the first decision. Never inside the image folder: cvnb only reads images.
        **kwargs: Initial trait values, e.g. ``issue_filter="near_duplicate"``,
            ``page_size=24``, ``label_filter="cat"``.

    Returns:
        The :class:`DatasetInspectorWidget`; display it by leaving it last in a cell.

    Raises:
        ValueError: If the report's table lacks the columns the inspector needs, or the
            journal would be written inside the image folder.

    Example:
        >>> report = scan_quality(df)  # doctest: +SKIP
        >>> w = inspect_dataset(report, "runs/journal.jsonl", issue_filter="blurry")  # doctest: +SKIP
        >>> w.exclude(w.items[0]["index"])  # doctest: +SKIP
    """
    if journal is None:
        journal = default_journal_path(checked_table(report))
    return DatasetInspectorWidget(report, journal, **kwargs)

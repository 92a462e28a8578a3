"""Data quality: scan a dataset for defects, score the scan, keep a cleaning journal.

- :func:`scan_quality` → :class:`QualityReport`: one row per image, a score in [0, 1] (lower
  is worse) and an ``is_<issue>`` flag per issue in :data:`ISSUES`, duplicate groups, the
  nearest neighbour and suggested labels. Built-in engine by default; ``engine="fastdup"``
  when fastdup is installed (:func:`scan_fastdup`).
- :class:`Journal` / :func:`apply_journal`: exclude / relabel / keep decisions appended to a
  file; applying it gives the cleaned table. Images are never touched.
- :func:`evaluate_scan`: precision and recall per issue against planted truth
  (:func:`cvnb.datasets.dirty_digits`, :func:`cvnb.datasets.dirty_copy`).
- :func:`embedding_for`: the embedding a scan uses for a table (size and features follow the
  images: pooled head features at up to 224 px for photos, multi-stage at 96 px for small ones).
- :func:`make_embedder`, :func:`nearest_neighbors`, :func:`similar_pairs`,
  :func:`outlier_scores`, :func:`label_issue_scores`: the embedding side, usable on its own.

Example:
    >>> from cvnb.data import load_images
    >>> from cvnb.datasets import dirty_digits
    >>> from cvnb.quality import evaluate_scan, scan_quality
    >>> root = dirty_digits()  # doctest: +SKIP
    >>> report = scan_quality(load_images(root))  # doctest: +SKIP
    >>> evaluate_scan(report, root / "truth.csv")  # doctest: +SKIP
"""

from __future__ import annotations

from ._apply import apply_journal
from ._embed import make_embedder
from ._fastdup import EngineUnavailable, fastdup_available
from ._journal import DECISIONS, Journal, JournalError
from ._pages import default_journal_path
from ._report import ISSUE_DESCRIPTIONS, ISSUES, RANKED_ISSUES, QualityReport
from ._scan import DEFAULT_THRESHOLDS, ENGINES, scan_quality
from ._score_scan import evaluate_scan, read_truth

__all__ = [
    "DECISIONS",
    "DEFAULT_THRESHOLDS",
    "ENGINES",
    "ISSUES",
    "ISSUE_DESCRIPTIONS",
    "RANKED_ISSUES",
    "EngineUnavailable",
    "Journal",
    "JournalError",
    "QualityReport",
    "apply_journal",
    "default_journal_path",
    "evaluate_scan",
    "fastdup_available",
    "make_embedder",
    "read_truth",
    "scan_quality",
]

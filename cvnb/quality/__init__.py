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

from cvnb._extras import require_extra

# ._embed imports torch and timm at module level, so the package needs 'train' today; when
# it imports them lazily, drop this line and the base install scans without embeddings.
require_extra("train", __name__)

from ._apply import apply_journal
from ._embed import DEFAULT_EMBED_SIZE, FEATURE_SETS, Embedder, make_embedder
from ._embed_choice import embedding_for
from ._fastdup import (
    FASTDUP_PYTHON_ENV,
    FASTDUP_THRESHOLDS,
    EngineUnavailable,
    fastdup_available,
    scan_fastdup,
)
from ._journal import DECISIONS, Journal, JournalError
from ._neighbors import nearest_neighbors
from ._pages import default_journal_path
from ._report import ISSUE_DESCRIPTIONS, ISSUES, RANKED_ISSUES, QualityReport
from ._scan import DEFAULT_THRESHOLDS, ENGINES, scan_quality
from ._score_scan import EVALUATION_COLUMNS, evaluate_scan, read_truth
from ._semantic import label_issue_scores, outlier_scores, similar_pairs

__all__ = [
    "DECISIONS",
    "DEFAULT_EMBED_SIZE",
    "DEFAULT_THRESHOLDS",
    "ENGINES",
    "EVALUATION_COLUMNS",
    "FASTDUP_PYTHON_ENV",
    "FASTDUP_THRESHOLDS",
    "FEATURE_SETS",
    "ISSUES",
    "ISSUE_DESCRIPTIONS",
    "RANKED_ISSUES",
    "Embedder",
    "EngineUnavailable",
    "Journal",
    "JournalError",
    "QualityReport",
    "apply_journal",
    "default_journal_path",
    "embedding_for",
    "evaluate_scan",
    "fastdup_available",
    "label_issue_scores",
    "make_embedder",
    "nearest_neighbors",
    "outlier_scores",
    "read_truth",
    "scan_fastdup",
    "scan_quality",
    "similar_pairs",
]

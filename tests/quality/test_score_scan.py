"""evaluate_scan: precision and recall of a scan against planted truth, with exact arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cvnb.data import load_images
from cvnb.datasets._dirty import dirty_copy
from cvnb.quality._report import ISSUES, RANKED_ISSUES, QualityReport
from cvnb.quality._score_scan import EVALUATION_COLUMNS, evaluate_scan, read_truth


def _report(table: pd.DataFrame) -> QualityReport:
    """A report around a hand-built table (the only place that builds a QualityReport)."""
    return QualityReport(
        table=table,
        summary=pd.DataFrame(),
        dataset_issues=pd.DataFrame(),
        thresholds={},
        engine="builtin",
        settings={},
    )


def _table(paths: list[str], scores: dict[str, dict[str, float]], flags: dict[str, set[str]]):
    """A table in the report schema: every score 1.0 (fine) unless given, NaN where None."""
    n = len(paths)
    table = pd.DataFrame(
        {
            "path": paths,
            "label": ["a"] * n,
            "split": ["train"] * n,
            "width": [8] * n,
            "height": [8] * n,
            "unreadable_reason": [""] * n,
            "exact_group": [-1] * n,
            "near_group": [-1] * n,
            "nearest_index": [None] * n,
            "nearest_similarity": [0.5] * n,
            "suggested_label": [None] * n,
            "label_confidence": [0.9] * n,
        }
    )
    for issue in ISSUES:
        given = scores.get(issue, {})
        table[f"{issue}_score"] = [
            np.nan if given.get(p, 1.0) is None else float(given.get(p, 1.0)) for p in paths
        ]
        table[f"is_{issue}"] = [p in flags.get(issue, set()) for p in paths]
    return table


@pytest.fixture
def scanned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = list("abcdefgh")
    paths = [str(tmp_path / f"{n}.png") for n in names]
    at = dict(zip(names, paths, strict=True))
    table = _table(
        paths,
        scores={
            "near_duplicate": {at["e"]: 0.0, at["a"]: 0.1, at["g"]: 0.2, at["b"]: 0.3},
            "label_issue": {at["h"]: None, at["c"]: 0.05},
            "outlier": {at["d"]: 0.2},
        },
        flags={
            "dark": {at["a"], at["b"], at["d"]},
            "near_duplicate": {at["e"], at["a"]},
            "label_issue": {at["c"]},
        },
    )
    # Relative paths, compared as absolute ones (the test runs in tmp_path); "." is the
    # whole dataset, as for a dataset-level issue.
    planted = {
        "dark": ["a", "b", "c"],
        "near_duplicate": ["a", "b", "e", "f"],
        "label_issue": ["h"],
        "unreadable": ["missing"],
        "class_imbalance": ["."],
    }
    truth = pd.DataFrame(
        [(f"{n}.png" if n != "." else n, issue) for issue, ns in planted.items() for n in ns],
        columns=["path", "issue"],
    )
    return _report(table), truth


def test_precision_and_recall_are_exact(scanned):
    report, truth = scanned
    result = evaluate_scan(report, truth)
    assert list(result.index) == list(ISSUES) and result.index.name == "issue"
    assert list(result.columns) == EVALUATION_COLUMNS
    assert "class_imbalance" not in result.index, "dataset-level issues are ignored"

    dark = result.loc["dark"]
    assert (dark.n_planted, dark.n_flagged, dark.true_positives) == (3, 3, 2)
    assert dark.precision == pytest.approx(2 / 3) and dark.recall == pytest.approx(2 / 3)
    assert math.isnan(dark.precision_at_k), "dark is not a ranked issue"

    near = result.loc["near_duplicate"]
    assert (near.n_planted, near.n_flagged, near.true_positives) == (4, 2, 2)
    assert (near.precision, near.recall) == (1.0, 0.5)
    # ranked worst first: e, a, g, b, then the 1.0s; the top 4 hold e, a, b of e, a, b, f
    assert (near.precision_at_k, near.recall_at_k) == (0.75, 0.75)

    label = result.loc["label_issue"]  # h is the positive, but has no score (not ranked)
    assert (label.n_planted, label.n_flagged, label.true_positives) == (1, 1, 0)
    assert (label.precision, label.recall, label.precision_at_k, label.recall_at_k) == (0, 0, 0, 0)

    unreadable = result.loc["unreadable"]  # its positive was never scanned: missed
    assert (unreadable.n_planted, unreadable.n_flagged, unreadable.true_positives) == (1, 0, 0)
    assert math.isnan(unreadable.precision) and unreadable.recall == 0.0

    outlier = result.loc["outlier"]  # nothing planted: recall and @k undefined
    assert (outlier.n_planted, outlier.n_flagged) == (0, 0)
    assert all(math.isnan(outlier[c]) for c in ("precision", "recall", "precision_at_k"))
    assert set(RANKED_ISSUES) == {"near_duplicate", "outlier", "label_issue"}


def test_only_scanned_drops_positives_the_scan_never_saw(scanned):
    report, truth = scanned
    result = evaluate_scan(report, truth, only_scanned=True)
    assert result.loc["unreadable", "n_planted"] == 0
    assert math.isnan(result.loc["unreadable", "recall"])
    assert result.loc["dark", "recall"] == pytest.approx(2 / 3)


def test_precision_at_k_counts_the_ranked_rows_when_fewer_than_k(tmp_path):
    paths = [str(tmp_path / f"{i}.png") for i in range(4)]
    scores = {"outlier": {p: None for p in paths[1:]} | {paths[0]: 0.1}}
    report = _report(_table(paths, scores=scores, flags={}))
    truth = pd.DataFrame({"path": paths[:2], "issue": ["outlier", "outlier"]})
    row = evaluate_scan(report, truth).loc["outlier"]
    assert (row.precision_at_k, row.recall_at_k) == (1.0, 0.5)


def test_truth_from_a_file_or_folder(scanned, tmp_path):
    report, truth = scanned
    folder = tmp_path / "dirty"
    folder.mkdir()
    truth.assign(true_label=["3"] * len(truth)).to_csv(folder / "truth.csv", index=False)
    from_folder = evaluate_scan(report, folder)
    from_file = evaluate_scan(report, folder / "truth.csv")
    pd.testing.assert_frame_equal(from_folder, from_file)
    read = read_truth(folder)
    assert read["true_label"].tolist() == ["3"] * len(truth), "labels stay strings"
    assert read["path"].iloc[0] == str(folder / "a.png"), "relative to the file's folder"
    with pytest.raises(FileNotFoundError, match="No ground truth"):
        read_truth(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no 'issue' column"):
        read_truth(pd.DataFrame({"path": ["a.png"]}))


def test_a_report_that_flags_exactly_the_truth_scores_one(digits_subset, tmp_path):
    """On a real dirty copy: a perfect report gets precision = recall = 1 for every issue."""
    root = dirty_copy(digits_subset, tmp_path / "dirty", seed=3, progress=False)
    df = load_images(root)
    truth = read_truth(root)
    assert set(truth["path"]) <= set(df["path"])
    positives = {i: set(truth.loc[truth["issue"] == i, "path"]) for i in ISSUES}
    scores = {i: dict.fromkeys(positives[i], 0.0) for i in ISSUES}
    report = _report(_table(df["path"].tolist(), scores=scores, flags=positives))
    result = evaluate_scan(report, root)
    assert (result["n_planted"] > 0).all(), "every issue kind is planted"
    assert (result["precision"] == 1.0).all() and (result["recall"] == 1.0).all()
    ranked = result.loc[list(RANKED_ISSUES)]
    assert (ranked["precision_at_k"] == 1.0).all() and (ranked["recall_at_k"] == 1.0).all()

    missed = sorted(positives["dark"])[0]
    wrong = sorted(set(df["path"]) - set(truth["path"]))[0]  # a clean image
    flags = {**positives, "dark": positives["dark"] - {missed} | {wrong}}
    worse = evaluate_scan(_report(_table(df["path"].tolist(), scores, flags)), root)
    n = len(positives["dark"])
    assert worse.loc["dark", "recall"] == pytest.approx((n - 1) / n)
    assert worse.loc["dark", "precision"] == pytest.approx((n - 1) / n)
    assert worse.loc["blurry", "precision"] == 1.0


def test_a_table_without_the_flag_columns_is_refused(tmp_path):
    table = _table([str(tmp_path / "a.png")], scores={}, flags={}).drop(columns="is_blurry")
    with pytest.raises(ValueError, match=r"lacks the columns \['is_blurry'\]"):
        evaluate_scan(_report(table), pd.DataFrame({"path": ["a.png"], "issue": ["dark"]}))

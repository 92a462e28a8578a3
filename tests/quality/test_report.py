"""QualityReport: ranking, flags, groups, save/load, plot and HTML, on a hand-built table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cvnb.quality._image_stats import class_imbalance
from cvnb.quality._report import ISSUES, QualityReport, issue_summary


def _report(index: list) -> QualityReport:
    n = len(index)
    table = pd.DataFrame(
        {
            "path": [f"/data/train/a/{k}.png" for k in range(n)],
            "label": ["a", "b", "a", "b", "a"][:n],
            "split": ["train", "train", "valid", "valid", "train"][:n],
            "width": pd.array([32, 32, 32, None, 64][:n], dtype="Int64"),
            "height": pd.array([32, 32, 32, None, 16][:n], dtype="Int64"),
        },
        index=index,
    ).astype({"path": object, "label": object, "split": object})
    for issue in ISSUES:
        table[f"{issue}_score"] = 1.0
        table[f"is_{issue}"] = False
    table.loc[index[3], [f"{i}_score" for i in ISSUES]] = np.nan
    table.loc[index[3], "unreadable_score"] = 0.0
    table.loc[index[3], "is_unreadable"] = True
    table["dark_score"] = [0.5, 0.1, 0.05, np.nan, 0.1]
    table["is_dark"] = table["dark_score"] < 0.2
    table["unreadable_reason"] = ["", "", "", "file is empty (0 bytes)", ""]
    table["exact_group"] = np.array([0, -1, 0, -1, -1], dtype=np.int64)
    table["near_group"] = np.array([0, 1, 0, -1, 1], dtype=np.int64)
    table["nearest_index"] = pd.Series([index[2], index[4], index[0], None, index[1]],
                                       index=index, dtype=object)  # fmt: skip
    table["nearest_similarity"] = [1.0, 0.97, 1.0, np.nan, 0.97]
    table["suggested_label"] = pd.Series([None, "a", None, None, None], index=index, dtype=object)
    table["label_confidence"] = [0.9, 0.1, 0.8, np.nan, 0.7]
    thresholds = {"dark": 0.2, "near_duplicate": 0.04}
    return QualityReport(
        table=table,
        summary=issue_summary(table, thresholds),
        dataset_issues=class_imbalance(table["label"], 0.2),
        thresholds=thresholds,
        engine="builtin",
        settings={"embedder": "m", "cache": {"path": None}},
    )


@pytest.fixture(params=[[10, 11, 12, 13, 14], ["a", "b", "c", "d", "e"]], ids=["int", "str"])
def report(request) -> QualityReport:
    return _report(request.param)


def test_ranked_is_worst_first_without_nan(report):
    ranked = report.ranked("dark")
    idx = report.table.index
    assert list(ranked.index) == [idx[2], idx[1], idx[4], idx[0]]  # ties keep table order
    assert report.ranked("unreadable").index[0] == idx[3]
    with pytest.raises(ValueError, match="Unknown issue"):
        report.ranked("fuzzy")


def test_flagged_and_summary(report):
    idx = report.table.index
    assert list(report.flagged("dark").index) == [idx[2], idx[1], idx[4]]
    assert report.flagged("blurry").empty
    assert report.summary.loc["dark", "n_flagged"] == 3
    assert report.summary.loc["dark", "fraction"] == pytest.approx(0.6)
    assert report.summary.loc["dark", "threshold"] == 0.2
    assert np.isnan(report.summary.loc["blurry", "threshold"])
    assert list(report.summary.columns) == ["n_flagged", "fraction", "threshold", "description"]


def test_groups(report):
    idx = report.table.index
    assert report.groups("exact") == [[idx[0], idx[2]]]
    assert report.groups() == [[idx[0], idx[2]], [idx[1], idx[4]]]
    with pytest.raises(ValueError, match="kind"):
        report.groups("fuzzy")


def test_save_and_load_round_trip(report, tmp_path):
    path = report.save(tmp_path / "out" / "scan.parquet")
    assert path.is_file() and (tmp_path / "out" / "scan.json").is_file()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files
    loaded = QualityReport.load(path)
    pd.testing.assert_frame_equal(loaded.table, report.table)
    pd.testing.assert_frame_equal(loaded.summary, report.summary, check_dtype=False)
    pd.testing.assert_frame_equal(loaded.dataset_issues, report.dataset_issues, check_dtype=False)
    assert loaded.thresholds == report.thresholds
    assert loaded.settings == report.settings and loaded.engine == "builtin"
    assert loaded.groups("near") == report.groups("near")


def test_load_refuses_a_mismatched_pair(report, tmp_path):
    path = report.save(tmp_path / "scan.parquet")
    other = _report(list(range(5)))
    other.table["dark_score"] = 0.9
    other.table.to_parquet(path)  # the table replaced behind the sidecar's back
    with pytest.raises(ValueError, match="do not belong together"):
        QualityReport.load(path)
    (tmp_path / "scan.json").unlink()
    with pytest.raises(FileNotFoundError, match="sidecar"):
        QualityReport.load(path)


def test_sidecar_is_plain_json(report, tmp_path):
    report.save(tmp_path / "scan.parquet")
    meta = json.loads((tmp_path / "scan.json").read_text())
    assert meta["engine"] == "builtin" and meta["thresholds"]["dark"] == 0.2
    assert len(meta["table_sha256"]) == 64


def test_plot_and_html(report):
    fig = report.plot()
    ax = fig.axes[0]
    heights = {
        t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)
    }
    assert heights["dark"] == 3 and heights["unreadable"] == 1 and len(heights) == len(ISSUES)
    html = report._repr_html_()
    assert "class_imbalance" in html and "near_duplicate" in html and "5 images" in html
    assert repr(report).startswith("<QualityReport: 5 images, 4 flagged")

"""The fastdup mapper on a recorded real fastdup run (tests/fixtures/fastdup), no fastdup here.

The fixture holds a dozen small images and the files fastdup 2.x wrote for them
(re-record with ``tests/fixtures/fastdup/make_fixture.py``). ``make test`` exercises
``read_outputs`` and ``build_table`` on them everywhere, fastdup installed or not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvnb.quality._fastdup import FASTDUP_THRESHOLDS
from cvnb.quality._fastdup_map import build_table, read_outputs
from cvnb.quality._report import ISSUES
from cvnb.quality._thresholds import resolve_thresholds

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "fastdup"


@pytest.fixture(scope="module")
def mapped():
    rel = FIXTURE.joinpath("files.txt").read_text().split()
    paths = [str(FIXTURE / "images" / r) for r in rel]
    df = pd.DataFrame(
        {
            "path": paths,
            "label": [Path(r).parts[1] for r in rel],
            "split": [Path(r).parts[0] for r in rel],
        }
    )
    out = read_outputs(FIXTURE / "run", len(paths))
    th = resolve_thresholds(None, FASTDUP_THRESHOLDS, engine="fastdup")
    table, dataset = build_table(df, paths, paths, out, th, seed=0, threads=1)
    return table.assign(name=rel), dataset, out


def _named(table: pd.DataFrame, issue: str) -> set[str]:
    return set(table.loc[table[f"is_{issue}"], "name"])


def test_outputs_are_read_by_position(mapped):
    _, _, out = mapped
    assert out.ok.tolist() == [True] * 10 + [False, False, True]
    assert out.emb.shape == (13, 576) and out.emb.dtype == np.float32
    assert np.array_equal(out.emb[0], out.emb[8]), "a byte copy has the same embedding"
    assert np.linalg.norm(out.emb[out.ok], axis=1).min() > 0
    assert not out.emb[~out.ok].any()
    assert out.outliers == {12}


def test_unreadable_files_keep_fastdups_reason_and_no_other_score(mapped):
    table, _, _ = mapped
    assert _named(table, "unreadable") == {"train/0/empty.png", "train/2/cut.png"}
    bad = table[table["is_unreadable"]].set_index("name")
    assert "empty file" in bad.at["train/0/empty.png", "unreadable_reason"]
    assert "corrupt or truncated" in bad.at["train/2/cut.png", "unreadable_reason"]
    others = [f"{i}_score" for i in ISSUES if i != "unreadable"]
    assert bad[others].isna().all().all()


def test_duplicates_and_leakage(mapped):
    table, _, _ = mapped
    copies = {"train/0/d0.png", "train/0/copy.png", "train/1/d1.png", "valid/1/leak.png"}
    assert _named(table, "exact_duplicate") == copies
    assert copies <= _named(table, "near_duplicate")
    assert _named(table, "leakage") == {"train/1/d1.png", "valid/1/leak.png"}
    groups = table.set_index("name")["exact_group"]
    assert groups["train/0/d0.png"] == groups["train/0/copy.png"] >= 0
    assert groups["train/0/d0.png"] != groups["train/1/d1.png"]


def test_outlier_and_schema(mapped):
    table, dataset, _ = mapped
    assert _named(table, "outlier") == {"train/3/dark.png"}
    for issue in ISSUES:
        scores = table[f"{issue}_score"].dropna()
        assert ((scores >= 0) & (scores <= 1)).all(), issue
    assert list(dataset.index) == ["class_imbalance"]

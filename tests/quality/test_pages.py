"""Review pages of a quality report: selection, paging, counts, and where journals may go.

Plain pandas, imported without any widget library (the inspector is a view over these).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvnb.quality._pages import (
    check_journal_location,
    class_balance,
    decision_counts,
    default_journal_path,
    image_root,
    page_starts,
    select_rows,
    worst_flagged,
)


@pytest.fixture
def table() -> pd.DataFrame:
    """Eight rows with two issues; rows 1, 2 and 5 are one exact-duplicate group."""
    n = 8
    t = pd.DataFrame(
        {
            "path": [f"/data/photos/{c}/{i}.jpg" for i, c in enumerate("aabbaabb")],
            "label": list("aabbaabb"),
            "split": ["train"] * 6 + ["valid"] * 2,
        }
    )
    t["dark_score"] = [0.9, 0.8, 0.7, 0.05, 0.6, 0.9, 0.1, 0.95]
    t["is_dark"] = t["dark_score"] < 0.2
    t["exact_duplicate_score"] = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]
    t["is_exact_duplicate"] = t["exact_duplicate_score"] == 0.0
    t["exact_group"] = [-1, 0, 0, -1, -1, 0, -1, -1]
    t["near_group"] = -1
    assert len(t) == n
    return t


def test_select_rows_orders_worst_first_and_keeps_groups_together(table):
    dark = select_rows(table, issue="dark")
    assert dark["pos"].tolist() == [3, 6]  # flagged only, worst (lowest score) first
    dups = select_rows(table, issue="exact_duplicate")
    assert dups["pos"].tolist() == [1, 2, 5] and set(dups["group"]) == {0}
    valid = select_rows(table, issue="dark", split="valid")
    assert valid["pos"].tolist() == [6]
    with pytest.raises(ValueError, match="not one of the report's issues"):
        select_rows(table, issue="fuzzy")


def test_select_rows_orders_ties_by_table_order(table):
    rows = select_rows(table, issue="exact_duplicate")
    assert rows["pos"].tolist() == sorted(rows["pos"])


def test_worst_flagged_names_each_rows_worst_issue(table):
    issue, score = worst_flagged(table, ["dark", "exact_duplicate"])
    assert issue[3] == "dark" and score[3] == pytest.approx(0.05)
    assert issue[1] == "exact_duplicate" and score[1] == 0.0
    assert issue[0] == "" and np.isnan(score[0])


def test_page_starts_keep_groups_whole():
    assert page_starts(np.full(10, -1), 4).tolist() == [0, 4, 8, 10]
    assert page_starts(np.array([], dtype=int), 4).tolist() == [0, 0]
    groups = np.array([0, 0, 0, 1, 1, 1, -1, 2, 2])
    assert page_starts(groups, 4).tolist() == [0, 3, 7, 9]
    # A group larger than a page is split into full pages.
    assert page_starts(np.array([5] * 7 + [-1]), 3).tolist() == [0, 3, 6, 8]
    with pytest.raises(ValueError, match="page_size"):
        page_starts(groups, 0)


def test_decision_counts_and_class_balance(table):
    decisions = pd.DataFrame(
        {"decision": ["exclude", "relabel", "keep", "exclude"], "label": [None, "b", None, None]},
        index=[table.path[0], table.path[1], table.path[2], "/elsewhere/x.jpg"],
    )
    counts = decision_counts(decisions, set(table.path))
    assert counts == {"excluded": 1, "relabelled": 1, "kept": 1}  # other images not counted
    after = table.drop(index=0).assign(label=lambda t: t.label.mask(t.index == 1, "b"))
    balance = class_balance(table, after)
    assert balance == [
        {"label": "a", "before": 4, "after": 2},
        {"label": "b", "before": 4, "after": 5},
    ]


def test_default_journal_is_under_the_run_folder_and_names_the_image_folder(table):
    path = default_journal_path(table)
    assert image_root(table) == Path("/data/photos")
    assert path.parts[:3] == ("runs", "clean", path.parts[2])
    assert path.parts[2].startswith("photos-") and len(path.parts[2]) == len("photos-") + 8
    assert path.name == "cleaning_journal.jsonl"
    other = table.assign(path=table.path.str.replace("/data/", "/backup/"))
    assert default_journal_path(other) != path  # same folder name, another folder
    assert default_journal_path(table, "elsewhere").parts[0] == "elsewhere"


def test_journal_inside_the_image_folder_is_refused(table):
    check_journal_location("runs/clean/journal.jsonl", table)  # fine
    check_journal_location("/data/journal.jsonl", table)  # beside, not inside: fine
    for inside in ("/data/photos/journal.jsonl", "/data/photos/a/j.csv"):
        with pytest.raises(ValueError, match="inside the image folder '/data/photos'"):
            check_journal_location(inside, table)


def test_pages_import_without_widget_libraries():
    code = (
        "import sys; import cvnb.quality._pages; "
        "bad = [m for m in ('anywidget', 'ipywidgets', 'traitlets') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

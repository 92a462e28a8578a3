"""DatasetInspectorWidget and its page logic, driven through traits and methods (no browser)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import traitlets
from PIL import Image, ImageFilter

from cvnb.quality._journal import Journal
from cvnb.quality._pages import default_journal_path
from cvnb.quality._report import QualityReport
from cvnb.widgets._assets import asset_path
from cvnb.widgets._inspector import DatasetInspectorWidget, inspect_dataset
from cvnb.widgets._inspector_view import ThumbnailCache

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ISSUES = (
    "unreadable", "exact_duplicate", "near_duplicate", "leakage", "dark", "bright", "blurry",
    "low_information", "odd_size", "odd_aspect", "grayscale", "outlier", "label_issue",
)  # fmt: skip
N = 30
# Planted findings: issue -> {row: score}. Duplicate groups below.
FLAGGED = {
    "blurry": {3: 0.05, 7: 0.2, 11: 0.1},
    "dark": {6: 0.02},
    "label_issue": {4: 0.01, 8: 0.3},
    "exact_duplicate": {1: 0.0, 2: 0.0, 20: 0.0, 21: 0.0, 22: 0.0},
    "near_duplicate": {1: 0.0, 2: 0.0, 5: 0.12, 20: 0.03, 21: 0.03, 22: 0.04, 9: 0.01, 14: 0.01},
    "leakage": {9: 0.01, 14: 0.01},
    "unreadable": {29: 0.0},
}
EXACT_GROUPS = {1: 0, 2: 0, 20: 1, 21: 1, 22: 1}
NEAR_GROUPS = {1: 0, 2: 0, 5: 0, 20: 1, 21: 1, 22: 1, 9: 2, 14: 2}
CLASSES = ("bird", "cat", "dog")


@pytest.fixture
def report_table(tmp_path) -> pd.DataFrame:
    """A table with the QualityReport schema over 30 real image files (row 29 is corrupt)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    folder.mkdir()
    rows = []
    for i in range(N):
        label = CLASSES[i % 3]
        path = folder / f"{label}_{i:02d}.png"
        if i == 29:
            path.write_bytes(b"this is not a png")
        else:
            size = (20 + i, 24)
            Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        split = "valid" if i in (14, 15, 16, 17, 18) else "train"
        rows.append({"path": str(path), "label": label, "split": split})
    table = pd.DataFrame(rows)
    table["width"] = [20 + i for i in range(N)]
    table["height"] = 24
    for issue in ISSUES:
        # Unflagged rows score between 0.5 and 1 (the clean end).
        scores = pd.Series(0.5 + 0.5 * rng.random(N))
        for row, score in FLAGGED.get(issue, {}).items():
            scores[row] = score
        if issue != "unreadable":
            scores[29] = np.nan
        table[f"{issue}_score"] = scores
        table[f"is_{issue}"] = table.index.isin(list(FLAGGED.get(issue, {})))
    table["unreadable_reason"] = ""
    table.loc[29, "unreadable_reason"] = "not an image file"
    table["exact_group"] = [EXACT_GROUPS.get(i, -1) for i in range(N)]
    table["near_group"] = [NEAR_GROUPS.get(i, -1) for i in range(N)]
    table["suggested_label"] = None
    table.loc[4, "suggested_label"] = "dog"
    return table


@pytest.fixture
def journal(tmp_path) -> Journal:
    return Journal(tmp_path / "run" / "journal.jsonl")


@pytest.fixture
def widget(report_table, journal) -> DatasetInspectorWidget:
    report = QualityReport(
        table=report_table, summary=pd.DataFrame(), dataset_issues=pd.DataFrame(), thresholds={}
    )
    return inspect_dataset(report, journal, page_size=8)


def _path(table: pd.DataFrame, row: int) -> str:
    return table["path"][row]


def _lines(journal: Journal) -> list[dict]:
    return [json.loads(line) for line in journal.path.read_text().splitlines()]


def test_filter_by_issue_shows_its_flagged_images_worst_first(widget, report_table):
    widget.issue_filter = "blurry"
    assert widget.paths == [_path(report_table, r) for r in (3, 11, 7)]
    assert [item["score"] for item in widget.items] == [0.05, 0.1, 0.2]
    assert {item["issue"] for item in widget.items} == {"blurry"}
    assert widget.counts["shown"] == 3
    assert widget.n_pages == 1
    assert len(widget.images) == 3 and all(b.startswith(b"\xff\xd8") for b in widget.images)


def test_any_issue_and_all(widget, report_table):
    flagged = set().union(*(rows for rows in FLAGGED.values()))
    widget.page_size = 100
    assert widget.issue_filter == "any"
    assert {report_table["path"][r] for r in flagged} == set(widget.paths)
    scores = [item["score"] for item in widget.items]
    assert scores == sorted(scores)
    # Row 4 is shown for its worst flagged issue.
    item = next(i for i in widget.items if i["path"] == _path(report_table, 4))
    assert (item["issue"], item["score"], item["suggested"]) == ("label_issue", 0.01, "dog")
    widget.issue_filter = "all"
    assert widget.counts == {
        "shown": N,
        "flagged": len(flagged),
        "excluded": 0,
        "relabelled": 0,
        "kept": 0,
    }
    unflagged = [r for r in range(N) if r not in flagged]
    assert widget.paths[-len(unflagged) :] == [_path(report_table, r) for r in unflagged]
    assert all(i["issue"] == "" and i["score"] is None for i in widget.items[-len(unflagged) :])


def test_class_and_split_filters(widget, report_table):
    widget.issue_filter = "all"
    widget.label_filter = "cat"
    assert widget.counts["shown"] == 10
    assert {i["label"] for i in widget.items} == {"cat"}
    widget.split_filter = "valid"
    expected = report_table[(report_table.label == "cat") & (report_table.split == "valid")]
    assert sorted(widget.paths) == sorted(expected["path"])
    assert widget.classes == list(CLASSES)
    assert widget.splits == ["train", "valid"]
    with pytest.raises(traitlets.TraitError, match="label_filter='horse'"):
        widget.label_filter = "horse"
    with pytest.raises(traitlets.TraitError, match="issue_filter"):
        widget.issue_filter = "fuzzy"


def test_duplicate_groups_are_adjacent_and_not_split_across_pages(widget, report_table):
    widget.page_size = 4
    widget.issue_filter = "near_duplicate"
    pages = []
    for page in range(widget.n_pages):
        widget.page = page
        pages.append([(i["group"], i["path"]) for i in widget.items])
    # Groups ordered by their worst member: group 0 (0.0), group 2 (0.01), group 1 (0.03).
    assert [[g for g, _ in page] for page in pages] == [[0, 0, 0], [2, 2], [1, 1, 1]]
    assert pages[0][2][1] == _path(report_table, 5)  # the least similar member comes last
    widget.issue_filter = "leakage"
    assert [i["group"] for i in widget.items] == [2, 2]
    assert {i["split"] for i in widget.items} == {"train", "valid"}


def test_ranking_beyond_the_flagged_images(widget, report_table):
    widget.issue_filter = "label_issue"
    assert widget.counts["shown"] == 2
    widget.flagged_only = False
    assert widget.counts["shown"] == N - 1  # every row with a score; the unreadable has none
    assert widget.n_pages == math.ceil((N - 1) / 8)
    assert widget.paths[:2] == [_path(report_table, 4), _path(report_table, 8)]


def test_pages_encode_only_the_current_page(report_table, journal):
    widget = inspect_dataset(report_table, journal, issue_filter="all", page_size=8)
    assert widget.n_pages == math.ceil(N / 8)
    first = list(widget.paths)
    assert len(widget.images) == len(widget.items) == 8
    assert widget._cache.misses == 8
    widget.page = 1
    assert len(widget.images) == 8 and not set(first) & set(widget.paths)
    assert widget._cache.misses == 16
    widget.page = 0
    assert widget._cache.misses == 16  # page 0 again: from the cache
    assert widget.paths == first
    widget.page = widget.n_pages - 1
    assert len(widget.images) == N - 8 * (widget.n_pages - 1)
    with pytest.raises(traitlets.TraitError, match="outside"):
        widget.page = widget.n_pages
    widget.label_filter = "dog"  # a filter change goes back to page 0
    assert widget.page == 0


def test_unreadable_image_gets_a_placeholder_and_its_reason(widget, report_table):
    widget.issue_filter = "unreadable"
    assert widget.images == [b""]
    assert widget.items[0]["reason"] == "not an image file"
    assert widget.items[0]["path"] == _path(report_table, 29)


def test_exclude_through_the_action_trait_writes_a_journal_line(widget, journal, report_table):
    widget.issue_filter = "blurry"
    widget.action = {"kind": "exclude", "index": widget.items[1]["index"], "seq": 1}
    assert widget.action == {}
    assert widget.error == ""
    [line] = _lines(journal)
    assert line["path"] == _path(report_table, 11)
    assert (line["decision"], line["issue"], line["score"], line["reason"]) == (
        "exclude",
        "blurry",
        0.1,
        "inspector",
    )
    assert widget.items[1]["decision"] == "exclude"
    assert widget.counts["excluded"] == 1
    # Under "any", the issue recorded is the image's worst flagged one.
    widget.issue_filter = "any"
    widget.exclude(4)
    assert _lines(journal)[-1]["issue"] == "label_issue"
    assert _lines(journal)[-1]["score"] == 0.01


def test_keep_relabel_and_undo(widget, journal, report_table):
    widget.issue_filter = "label_issue"
    index = widget.items[0]["index"]
    widget.relabel(index, "dog")
    assert widget.items[0]["decision"] == "relabel"
    assert widget.items[0]["new_label"] == "dog"
    assert _lines(journal)[-1]["label"] == "dog"
    widget.action = {"kind": "keep", "index": widget.items[1]["index"]}
    counts = widget.counts
    assert (counts["relabelled"], counts["kept"], counts["excluded"]) == (1, 1, 0)
    widget.action = {"kind": "undo"}  # drops the last entry: the keep
    assert widget.counts["kept"] == 0 and widget.items[1]["decision"] == ""
    assert len(journal) == 1
    widget.action = {"kind": "relabel", "index": index, "label": "bird"}
    assert widget.items[0]["new_label"] == "bird"
    widget.undo(index)  # drops every entry for that image
    assert len(journal) == 0
    assert widget.items[0]["decision"] == ""


def test_decisions_survive_filter_changes_and_a_new_widget(widget, journal, report_table):
    widget.issue_filter = "dark"
    widget.exclude(widget.items[0]["index"])
    widget.issue_filter = "blurry"
    widget.issue_filter = "dark"
    assert widget.items[0]["decision"] == "exclude"
    # A new widget (e.g. after a kernel restart) on the same file, via its path.
    again = inspect_dataset(report_table, str(journal.path), issue_filter="dark")
    assert again.items[0]["decision"] == "exclude"
    assert again.counts["excluded"] == 1
    # A decision made in code (another Journal object) shows up at the next refresh.
    Journal(journal.path).keep(_path(report_table, 3))
    again.issue_filter = "blurry"
    assert again.items[0]["decision"] == "keep"


def test_bad_requests_go_to_the_error_trait(widget, journal):
    widget.action = {"kind": "explode", "index": 0}
    assert "explode" in widget.error and widget.action == {}
    widget.action = {"kind": "exclude", "index": 999}
    assert "999 is not an index label" in widget.error
    widget.action = {"kind": "relabel", "index": 0, "label": ""}
    assert "non-empty class name" in widget.error
    widget.action = {"kind": "exclude"}
    assert "needs 'index'" in widget.error
    assert not journal.path.exists()
    widget.action = {"kind": "keep", "index": 0}
    assert widget.error == "" and len(journal) == 1
    with pytest.raises(KeyError, match="not an index label"):
        widget.exclude("nope")
    # A journal file broken by hand: the next refresh says so in the widget.
    with journal.path.open("a") as fh:
        fh.write("{not json\n")
    widget.issue_filter = "dark"
    assert "not valid JSON" in widget.error


def test_bad_reports_are_refused(report_table, journal):
    with pytest.raises(ValueError, match="lacks"):
        inspect_dataset(report_table[["path", "label", "split"]], journal)
    with pytest.raises(ValueError, match="QualityReport"):
        inspect_dataset([1, 2, 3], journal)
    with pytest.raises(ValueError, match="repeated labels"):
        inspect_dataset(pd.concat([report_table, report_table]), journal)


def test_string_index_labels(report_table, journal):
    table = report_table.set_axis([f"img{i}" for i in range(N)])
    widget = inspect_dataset(table, journal, issue_filter="dark", show_plots=False)
    assert widget.items[0]["index"] == "img6"
    widget.action = {"kind": "exclude", "index": "img6"}
    assert _lines(journal)[0]["path"] == table["path"]["img6"]


def test_class_counts_before_and_after_the_journal(widget):
    assert widget.class_counts == [{"label": c, "before": 10, "after": 10} for c in CLASSES]
    widget.issue_filter = "label_issue"
    widget.relabel(4, "dog")  # row 4 is a cat
    widget.exclude(8)  # a dog
    counts = {row["label"]: (row["before"], row["after"]) for row in widget.class_counts}
    assert counts == {"bird": (10, 10), "cat": (10, 9), "dog": (10, 10)}
    widget.keep(8)  # the latest decision wins: the dog is back
    widget.relabel(0, "horse")  # a bird, into a class the scan did not know
    counts = {row["label"]: (row["before"], row["after"]) for row in widget.class_counts}
    assert counts == {"bird": (10, 9), "cat": (10, 9), "dog": (10, 11), "horse": (0, 1)}


def test_size_plot_is_rendered_on_demand(widget):
    assert widget.plot_png == b""  # the panel starts closed: nothing rendered
    widget.show_plots = True
    png = widget.plot_png
    assert png.startswith(PNG_MAGIC)
    assert Image.open(io.BytesIO(png)).size == (720, 240)


def test_default_journal_goes_under_the_run_folder_never_beside_the_images(
    report_table, tmp_path, monkeypatch
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    widget = inspect_dataset(report_table, show_plots=False, issue_filter="dark")
    expected = default_journal_path(report_table)
    assert expected.parts[:2] == ("runs", "clean")
    assert Path(widget.journal_path) == work / expected
    widget.exclude(6)
    assert (work / expected).is_file()
    images = tmp_path / "data"
    assert sorted(p.suffix for p in images.iterdir()) == [".png"] * N  # nothing written there


def test_a_journal_inside_the_image_folder_is_refused(report_table, tmp_path):
    inside = tmp_path / "data" / "journal.jsonl"
    with pytest.raises(ValueError, match="inside the image folder"):
        inspect_dataset(report_table, inside)
    with pytest.raises(ValueError, match="inside the image folder"):
        inspect_dataset(report_table, Journal(tmp_path / "data" / "sub" / "j.csv"))
    assert not inside.exists()


def test_esm_and_css_are_loaded(widget):
    source = widget._esm
    assert source == asset_path("inspector.js").read_text(encoding="utf-8")
    assert "export default" in source and "cvnb-insp-item" in source
    assert ".cvnb-insp-group" in widget._css
    assert "base64" not in source


def test_on_a_real_scan(tmp_path, journal):
    """scan_quality on a tiny folder: a duplicate pair across splits and a dark image."""
    from cvnb.data import load_images
    from cvnb.quality._scan import scan_quality

    rng = np.random.default_rng(1)
    for split, label, i in [
        (s, c, i) for s in ("train", "valid") for c in ("a", "b") for i in (0, 1)
    ]:
        folder = tmp_path / "data" / split / label
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).filter(ImageFilter.SMOOTH).save(folder / f"{i}.png")
    twin = tmp_path / "data" / "train" / "a" / "0.png"
    (tmp_path / "data" / "valid" / "a" / "twin.png").write_bytes(twin.read_bytes())
    Image.new("RGB", (48, 40), (12, 12, 12)).save(tmp_path / "data" / "train" / "b" / "dark.png")
    report = scan_quality(
        load_images(tmp_path / "data"), embedder=False, cache=False, progress=False
    )

    widget = inspect_dataset(report, journal, issue_filter="exact_duplicate")
    assert sorted(Path(p).name for p in widget.paths) == ["0.png", "twin.png"]
    assert len({item["group"] for item in widget.items}) == 1
    widget.issue_filter = "leakage"
    assert {item["split"] for item in widget.items} == {"train", "valid"}
    widget.issue_filter = "dark"
    assert [Path(p).name for p in widget.paths] == ["dark.png"]
    widget.action = {"kind": "exclude", "index": widget.items[0]["index"]}
    [line] = _lines(journal)
    assert (Path(line["path"]).name, line["issue"]) == ("dark.png", "dark")
    assert line["score"] == pytest.approx(report.table["dark_score"].min())


# ------------------------------------------------------------------ pure page logic


def test_thumbnail_cache_is_lru_and_tolerates_bad_files(report_table):
    cache = ThumbnailCache(max_items=2, max_size=32)
    a, b, c = (_path(report_table, r) for r in (0, 1, 3))
    assert cache.get(a).startswith(b"\xff\xd8")
    cache.get(b)
    cache.get(a)  # a is now the most recent; b goes when c comes
    cache.get(c)
    assert len(cache) == 2 and cache.misses == 3
    cache.get(a)
    assert cache.misses == 3
    cache.get(b)
    assert cache.misses == 4
    assert cache.get(_path(report_table, 29)) == b""
    assert cache.get("/no/such/file.png") == b""
    assert max(Image.open(io.BytesIO(cache.get(a))).size) <= 32

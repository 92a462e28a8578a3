"""The cleaning journal: decisions in a JSONL/CSV file, undo, and apply_journal on a real table."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from cvnb.quality import apply_journal
from cvnb.quality._journal import DECISIONS, FIELDS, Journal, JournalError


@pytest.fixture(params=["jsonl", "csv"])
def journal(request, tmp_path) -> Journal:
    return Journal(tmp_path / "run" / f"journal.{request.param}")


def _digest(paths) -> dict[str, str]:
    return {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def test_round_trip_keeps_every_field(journal, tmp_path):
    assert len(journal) == 0 and not journal.path.exists(), "created on first write only"
    a = journal.exclude("imgs/a.png", reason="blurred shot", issue="blurry", score=0.031)
    b = journal.relabel(tmp_path / "b.png", 7, reason="a seven, not a one", issue="label_issue")
    c = journal.keep("c.png")
    assert journal.path.is_file()
    assert a["path"] == os.path.abspath("imgs/a.png")
    assert b["label"] == "7" and b["path"] == str(tmp_path / "b.png")
    assert len({a["id"], b["id"], c["id"]}) == 3
    for entry in (a, b, c):
        assert datetime.fromisoformat(entry["time"]).tzinfo is not None

    again = Journal(journal.path)  # a restart: a fresh object on the same file
    table = again.entries()
    assert list(table.columns) == list(FIELDS)
    assert table["id"].tolist() == [a["id"], b["id"], c["id"]]
    assert table["decision"].tolist() == ["exclude", "relabel", "keep"]
    assert table["label"].tolist() == [None, "7", None]
    assert table["reason"].tolist() == ["blurred shot", "a seven, not a one", ""]
    assert table["issue"].tolist() == ["blurry", "label_issue", None]
    assert table["score"].iloc[0] == pytest.approx(0.031)
    assert table["score"].iloc[1:].isna().all()
    assert table.to_dict("records")[0] == {**a, "score": pytest.approx(0.031)}
    assert repr(again).endswith("3 entries)")


def test_file_formats_are_plain_jsonl_and_csv(tmp_path):
    jsonl = Journal(tmp_path / "j.jsonl")
    jsonl.exclude(["x.png", "y.png"], reason='has "quotes", commas\nand a newline')
    lines = jsonl.path.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1])["path"] == os.path.abspath("y.png")

    as_csv = Journal(tmp_path / "j.CSV")
    as_csv.exclude(["x.png", "y.png"], reason='has "quotes", commas\nand a newline')
    frame = pd.read_csv(as_csv.path)
    assert list(frame.columns) == list(FIELDS)
    assert frame["reason"].tolist() == ['has "quotes", commas\nand a newline'] * 2
    assert as_csv.entries()["reason"].tolist() == jsonl.entries()["reason"].tolist()


def test_two_objects_on_one_file_agree(journal):
    other = Journal(journal.path)
    journal.exclude("a.png")
    other.relabel("b.png", "cat")
    assert len(journal) == len(other) == 2
    pd.testing.assert_frame_equal(journal.entries(), other.entries())
    other.undo()
    assert journal.entries()["path"].tolist() == [os.path.abspath("a.png")]


def test_undo_last_and_undo_by_path(journal):
    assert journal.undo() == [], "nothing to undo in an empty journal"
    first = journal.exclude("a.png", issue="dark")
    journal.relabel("b.png", "dog")
    journal.keep("a.png")
    last = journal.keep("c.png")
    assert journal.undo() == [last]
    assert journal.entries()["path"].tolist() == [os.path.abspath(f"{p}.png") for p in "aba"]
    dropped = journal.undo("a.png")
    assert [e["decision"] for e in dropped] == ["exclude", "keep"]
    assert dropped[0] == first
    assert journal.entries()["path"].tolist() == [os.path.abspath("b.png")]
    assert journal.undo("never-recorded.png") == []
    assert len(journal) == 1
    leftovers = [p.name for p in journal.path.parent.iterdir() if p != journal.path]
    assert leftovers == [], "undo leaves no temporary file behind"


def test_undo_by_entry_id(journal):
    keep = journal.exclude("a.png")
    gone = journal.exclude("b.png")
    assert journal.undo(entry_id=gone["id"]) == [gone]
    assert journal.entries()["id"].tolist() == [keep["id"]]


def test_latest_decision_per_image_wins(journal):
    journal.exclude("a.png", issue="near_duplicate")
    journal.relabel("b.png", "cat")
    journal.keep("a.png", reason="looked again: fine")
    journal.exclude("b.png")
    decided = journal.decisions()
    assert decided.index.name == "path"
    assert decided.loc[os.path.abspath("a.png"), "decision"] == "keep"
    assert decided.loc[os.path.abspath("b.png"), "decision"] == "exclude"
    assert len(decided) == 2


def test_invalid_decisions_are_refused_before_writing(journal):
    with pytest.raises(JournalError, match="Unknown decision 'delete'"):
        journal.record("a.png", "delete")
    with pytest.raises(JournalError, match="needs the new label"):
        journal.record("a.png", "relabel")
    with pytest.raises(JournalError, match="needs the new label"):
        journal.relabel("a.png", "")
    with pytest.raises(JournalError, match="takes no label"):
        journal.record("a.png", "exclude", label="cat")
    assert not journal.path.exists()
    assert set(DECISIONS) == {"exclude", "relabel", "keep"}


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(JournalError, match=r"Unknown journal format '\.txt'.*\.jsonl"):
        Journal(tmp_path / "journal.txt")
    with pytest.raises(JournalError, match="no suffix"):
        Journal(tmp_path / "journal")


def test_malformed_jsonl_lines_are_named_by_number(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.exclude("a.png")
    with open(journal.path, "a") as fh:
        fh.write("\n")  # blank lines are fine
        fh.write('{"path": "b.png", "decision": "exclude"\n')  # cut short, as by a crash
    with pytest.raises(JournalError, match=r"Line 3 of journal .*not valid JSON"):
        journal.entries()
    journal.path.write_text('{"path": "b.png", "decision": "burn"}\n')
    with pytest.raises(JournalError, match=r"Line 1 .*unknown decision 'burn'"):
        len(journal)
    journal.path.write_text('{"path": "a.png", "decision": "keep"}\n[1, 2]\n')
    with pytest.raises(JournalError, match=r"Line 2 .*not a JSON object"):
        journal.decisions()
    journal.path.write_text('{"path": "b.png", "decision": "relabel"}\n')
    with pytest.raises(JournalError, match=r"Line 1 .*relabel without a label"):
        apply_journal(pd.DataFrame({"path": ["b.png"], "label": ["x"]}), journal)


def test_malformed_csv_lines_are_named_by_number(tmp_path):
    journal = Journal(tmp_path / "j.csv")
    journal.exclude("a.png")
    journal.keep("b.png")
    text = journal.path.read_text().splitlines()
    journal.path.write_text("\n".join([text[0], text[1], "oops,only,three", text[2]]) + "\n")
    with pytest.raises(JournalError, match=r"Line 3 of journal .*3 fields, expected 8"):
        journal.entries()
    journal.path.write_text("path,decision\na.png,exclude\n")
    with pytest.raises(JournalError, match=r"Line 1 .*not the header"):
        journal.entries()
    bad_score = text[1].split(",")
    bad_score[-1] = "high"
    journal.path.write_text("\n".join([text[0], ",".join(bad_score)]) + "\n")
    with pytest.raises(JournalError, match=r"Line 2 .*score that is not a number: 'high'"):
        journal.entries()


def test_apply_journal_on_a_real_table(digits_subset, tmp_path):
    df = digits_subset
    before = _digest(df["path"])
    journal = Journal(tmp_path / "journal.jsonl")
    excluded = df["path"].iloc[[0, 5, 250]].tolist()
    journal.exclude(excluded, issue="near_duplicate", score=0.01)
    journal.relabel(df["path"].iloc[10], "9", reason="looks like a nine", issue="label_issue")
    journal.exclude(df["path"].iloc[11])
    journal.keep(df["path"].iloc[11])  # reviewed again: the latest decision (keep) wins
    journal.exclude("/elsewhere/not-in-this-table.png")

    with pytest.warns(UserWarning, match="1 journal decision"):
        clean = apply_journal(df, journal.path)  # a path works as well as a Journal
    assert len(clean) == len(df) - 3
    assert not set(excluded) & set(clean["path"])
    assert df["path"].iloc[11] in set(clean["path"])
    assert clean.index.equals(df.index.drop(df.index[[0, 5, 250]])), "index kept"
    assert clean.loc[10, "label"] == "9" and clean.loc[10, "original_label"] == df.loc[10, "label"]
    changed = clean[clean["label"] != clean["original_label"]]
    assert changed.index.tolist() == [10]
    assert clean.attrs["journal"] == {"excluded": 3, "relabelled": 1, "kept": 1, "unmatched": 1}
    assert len(df) == 400 and "original_label" not in df.columns, "the input is not changed"
    assert _digest(df["path"]) == before, "no image file is touched"

    with pytest.warns(UserWarning):
        twice = apply_journal(clean, journal)
    pd.testing.assert_frame_equal(twice, clean)

    journal.undo(df["path"].iloc[10])
    journal.undo("/elsewhere/not-in-this-table.png")
    assert (apply_journal(df, journal)["label"] == df["label"].drop([0, 5, 250])).all()


def test_apply_journal_matches_relative_paths_and_numeric_labels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = pd.DataFrame({"path": ["a.png", "sub/b.png", "c.png"], "label": [1, 2, 3]})
    journal = Journal("journal.csv")
    journal.relabel(tmp_path / "sub" / "b.png", 5)
    journal.exclude("c.png")
    clean = apply_journal(df, journal)
    assert clean["label"].tolist() == [1, 5]
    assert clean["label"].dtype == df["label"].dtype
    assert clean["original_label"].tolist() == [1, 2]
    journal.relabel("a.png", "cat")
    with pytest.raises(ValueError, match="do not fit the table's int64 label column"):
        apply_journal(df, journal)


def test_apply_journal_errors(tmp_path):
    with pytest.raises(ValueError, match="no 'path' column"):
        apply_journal(pd.DataFrame({"file": ["a.png"]}), tmp_path / "j.jsonl")
    journal = Journal(tmp_path / "j.jsonl")
    journal.relabel("a.png", "cat")
    with pytest.raises(ValueError, match="no 'label' column"):
        apply_journal(pd.DataFrame({"path": ["a.png"]}), journal)
    empty = apply_journal(pd.DataFrame({"path": ["a.png"]}), tmp_path / "missing.jsonl")
    assert empty["path"].tolist() == ["a.png"]


def test_apply_journal_warns_when_the_dataset_moved_and_reroot_matches_again(tmp_path):
    old, new = tmp_path / "old" / "pets", tmp_path / "new" / "data" / "pets"
    names = ["train/cat/a.png", "train/dog/b.png", "valid/cat/c.png"]
    journal = Journal(tmp_path / "journal.jsonl")
    journal.exclude(old / names[0])
    journal.relabel(old / names[1], "cat")
    moved = pd.DataFrame({"path": [str(new / n) for n in names], "label": ["cat", "dog", "cat"]})

    with pytest.warns(UserWarning, match=r"2 journal decision\(s\).*reroot=") as caught:
        stale = apply_journal(moved, journal)
    guess = {str(old.parent): str(new.parent)}  # the shortest prefixes that differ
    assert f"reroot={guess!r}" in str(caught[0].message)
    assert len(stale) == 3 and stale.attrs["journal"]["unmatched"] == 2

    assert apply_journal(moved, journal, reroot=guess).equals(
        apply_journal(moved, journal, reroot={old: new})
    )
    clean = apply_journal(moved, journal, reroot={old: new})
    assert clean["path"].tolist() == [str(new / names[1]), str(new / names[2])]
    assert clean["label"].tolist() == ["cat", "cat"]
    assert clean.attrs["journal"]["unmatched"] == 0

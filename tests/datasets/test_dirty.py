"""dirty_digits / dirty_copy: planted, recorded defects of every issue kind, built once."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cvnb.data import load_images
from cvnb.datasets._dirty import DEFAULT_COUNTS, TRUTH_COLUMNS, dirty_copy, dirty_digits

# The issue kinds of cvnb.quality (cvnb.quality.ISSUES); the truth must plant every one of them.
ISSUES = (
    "unreadable", "exact_duplicate", "near_duplicate", "leakage", "dark", "bright", "blurry",
    "low_information", "odd_size", "odd_aspect", "grayscale", "outlier", "label_issue",
)  # fmt: skip
COPY_KINDS = {"exact_duplicate", "near_duplicate", "leakage"}


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> Path:
    return dirty_digits(root=tmp_path_factory.mktemp("cache") / "dirty-digits", progress=False)


@pytest.fixture(scope="module")
def truth(dirty) -> pd.DataFrame:
    return pd.read_csv(dirty / "truth.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def table(dirty) -> pd.DataFrame:
    return load_images(dirty)


def _rgb(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def _sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: low when blurred."""
    g = rgb.mean(axis=2)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var())


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root but truth.csv (which holds absolute paths)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "truth.csv"
    }


def by_issue(truth: pd.DataFrame, issue: str) -> pd.DataFrame:
    return truth[truth["issue"] == issue]


def test_every_issue_kind_is_planted_with_enough_cases(truth):
    assert list(truth.columns) == TRUTH_COLUMNS
    assert set(truth["issue"]) == set(ISSUES) == set(DEFAULT_COUNTS)
    copies = truth[truth["detail"] != "original"].groupby("issue").size()
    for issue in ISSUES:
        assert copies[issue] >= 10, issue
    assert copies["label_issue"] >= 30 and copies["near_duplicate"] >= 30
    assert not truth.duplicated(["path", "issue"]).any()


def test_truth_lists_existing_absolute_paths_in_the_table(dirty, truth, table):
    for path in truth["path"]:
        assert os.path.isabs(path) and Path(path).is_file(), path
        assert Path(path).is_relative_to(dirty)
    assert set(truth["path"]) <= set(table["path"])
    assert (dirty / "truth.csv").is_file() and (dirty / ".clean").is_dir()
    files = {str(p) for p in dirty.glob("[!.]*/*/*") if p.is_file()}
    assert set(table["path"]) == files, "every file in the split/class folders, and only those"
    assert not any("/.clean/" in p for p in table["path"]), "the clean set is not loaded"


def test_load_images_reports_exactly_the_unreadable_files(truth, table):
    broken = set(table.loc[table["error"].notna(), "path"])
    assert broken == set(by_issue(truth, "unreadable")["path"])
    details = by_issue(truth, "unreadable")["detail"]
    assert {d.split(" ")[0] for d in details} == {"zero-byte", "truncated", "text"}
    added = ("exact_duplicate", "near_duplicate", "leakage", "unreadable", "outlier")
    assert len(table) == 1797 + sum(DEFAULT_COUNTS[k] for k in added)


def test_duplicates_are_copies_of_a_source_that_is_listed_too(truth, table):
    split = dict(zip(table["path"], table["split"], strict=True))
    for issue in ("exact_duplicate", "near_duplicate", "leakage"):
        rows = by_issue(truth, issue)
        copies = rows[rows["source"] != ""]
        assert set(copies["source"]) <= set(rows["path"]), "each source is a positive too"
        assert len(rows) == 2 * len(copies)
    for _, row in by_issue(truth, "exact_duplicate").iterrows():
        if row["source"]:
            assert Path(row["path"]).read_bytes() == Path(row["source"]).read_bytes()
    near_only = set(by_issue(truth, "near_duplicate")["path"]) - set(
        by_issue(truth, "exact_duplicate")["path"]
    )
    copies = by_issue(truth, "near_duplicate")
    for _, row in copies[copies["path"].isin(near_only) & (copies["source"] != "")].iterrows():
        a, b = _rgb(row["path"]), _rgb(row["source"])
        assert Path(row["path"]).read_bytes() != Path(row["source"]).read_bytes()
        assert a.shape == b.shape, "sizes are kept, so a near copy is not odd_size"
        assert 0 < np.abs(a - b).mean() < 40, row["detail"]
    for _, row in by_issue(truth, "leakage").iterrows():
        if row["source"]:
            assert split[row["path"]] != split[row["source"]]
    same_split = by_issue(truth, "exact_duplicate")
    same_split = same_split[(same_split["source"] != "") & ~same_split["path"].isin(
        by_issue(truth, "leakage")["path"])]  # fmt: skip
    assert all(
        split[p] == split[s] for p, s in zip(same_split["path"], same_split["source"], strict=True)
    )


def test_replaced_images_have_their_defect_and_no_original_beside_them(dirty, truth):
    for issue in ("dark", "bright", "blurry", "low_information", "grayscale", "odd_size",
                  "odd_aspect"):  # fmt: skip
        for _, row in by_issue(truth, issue).iterrows():
            clean = Path(row["source"])
            assert clean.is_relative_to(dirty / ".clean")
            assert Path(row["path"]).relative_to(dirty) == clean.relative_to(dirty / ".clean")
            new, old = _rgb(row["path"]), _rgb(row["source"])
            if issue == "dark":
                assert new.mean() < 0.2 * old.mean()
            elif issue == "bright":
                assert 255 - new.mean() < 0.2 * (255 - old.mean())
            elif issue == "blurry":
                assert _sharpness(new) < 0.2 * _sharpness(old)
            elif issue == "low_information":
                assert new.std(axis=(0, 1)).max() < 3 and 60 < new.mean() < 200
            elif issue == "grayscale":
                assert np.array_equal(new[..., 0], new[..., 1]) and old.std(axis=2).mean() > 5
            elif issue == "odd_size":
                larger = max(new.shape[:2]) >= 128
                assert larger or max(new.shape[:2]) <= 11
                assert larger == (row["path"] in set(by_issue(truth, "blurry")["path"]))
            else:
                h, w = new.shape[:2]
                assert max(w / h, h / w) >= 3.5 and abs(w * h - 32 * 32) < 0.15 * 32 * 32


def test_label_issues_sit_in_a_wrong_class_folder(truth, table):
    rows = by_issue(truth, "label_issue")
    moved = rows[rows["true_label"] != ""]
    assert len(moved) == DEFAULT_COUNTS["label_issue"]
    for _, row in moved.iterrows():
        assert Path(row["path"]).parent.name != row["true_label"]
        assert Path(row["source"]).parent.name == row["true_label"]
    outliers = set(by_issue(truth, "outlier")["path"])
    assert set(rows.loc[rows["true_label"] == "", "path"]) == outliers
    sources = {Path(s).name for s in by_issue(truth, "outlier")["source"]}
    assert sources == {"china.jpg", "flower.jpg"}
    crops = [_rgb(p) for p in outliers]
    for i, a in enumerate(crops):  # distinct crops, not near-duplicates of each other
        assert a.shape == (32, 32, 3)
        assert all(np.abs(a - b).mean() > 10 for b in crops[i + 1 :])


def test_clean_images_are_colour_and_untouched(dirty, truth, table):
    clean = table[~table["path"].isin(truth["path"])]
    assert len(clean) > 1500
    for path in clean["path"].sample(20, random_state=0):
        rel = Path(path).relative_to(dirty)
        assert Path(path).read_bytes() == (dirty / ".clean" / rel).read_bytes()
        assert _rgb(path).std(axis=2).mean() > 5, "the clean digits are in colour"
    assert (clean["width"] == 32).all() and (clean["height"] == 32).all()


def test_second_call_is_a_no_op(dirty):
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dirty.rglob("*")}
    start = time.monotonic()
    assert dirty_digits(root=dirty) == dirty
    assert time.monotonic() - start < 1.0
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dirty.rglob("*")} == before
    with pytest.raises(ValueError, match="seed=0"):
        dirty_digits(root=dirty, seed=1)


def test_a_foreign_folder_is_never_touched(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="never deletes"):
        dirty_digits(root=mine)
    with pytest.raises(FileExistsError, match="never deletes"):
        dirty_copy(tmp_path / "elsewhere", mine)
    assert sorted(os.listdir(mine)) == ["holiday.jpg"]
    assert (mine / "holiday.jpg").read_bytes() == b"precious"


def test_dirty_copy_of_real_photos_leaves_the_source_unchanged(coco_crops, tmp_path):
    before = _digest(coco_crops)
    root = dirty_copy(coco_crops, tmp_path / "dirty", seed=1, progress=False)
    assert _digest(coco_crops) == before, "the source folder's bytes are unchanged"
    truth = pd.read_csv(root / "truth.csv", dtype=str, keep_default_na=False)
    df = load_images(root)
    assert set(truth["issue"]) == set(ISSUES)
    assert set(truth["path"]) <= set(df["path"])
    assert set(df.loc[df["error"].notna(), "path"]) == set(by_issue(truth, "unreadable")["path"])
    replaced = truth[truth["issue"].isin(["dark", "label_issue"]) & (truth["true_label"] != "")]
    assert all(Path(s).is_relative_to(coco_crops) for s in replaced["source"])
    # odd sizes and aspects lie outside the real photos' own range
    source = load_images(coco_crops)
    longer = np.maximum(source["width"], source["height"]).astype(float)
    for path in by_issue(truth, "odd_size")["path"]:
        with Image.open(path) as im:
            assert max(im.size) < longer.min() or max(im.size) > longer.max()
    elongation = (np.maximum(source["width"], source["height"]) /
                  np.minimum(source["width"], source["height"])).astype(float)  # fmt: skip
    for path in by_issue(truth, "odd_aspect")["path"]:
        with Image.open(path) as im:
            assert max(im.size) / min(im.size) > elongation.max()
    # what a user does with PIL is planted beside the synthetic defects
    details = " | ".join(truth["detail"])
    assert "overexposed: ImageEnhance.Brightness(" in details
    assert "Gaussian blur, radius 6.0" in details or "Gaussian blur" in details
    start = time.monotonic()
    assert dirty_copy(coco_crops, root, seed=1) == root
    assert time.monotonic() - start < 1.0, "a complete copy is reused"


def test_dirty_copy_plants_no_outliers_when_asked_for_none(digits_subset, tmp_path):
    small = digits_subset.groupby(["split", "label"]).head(4)
    root = dirty_copy(small, tmp_path / "a", counts={"outlier": 0}, progress=False)
    truth = pd.read_csv(root / "truth.csv", dtype=str, keep_default_na=False)
    assert "outlier" not in set(truth["issue"])


def test_dirty_copy_is_seeded_and_checks_its_arguments(digits_subset, tmp_path):
    small = digits_subset.groupby(["split", "label"]).head(6)  # 120 real images
    counts = dict.fromkeys(DEFAULT_COUNTS, 2)
    a = dirty_copy(small, tmp_path / "a", seed=5, counts=counts, progress=False)
    b = dirty_copy(small, tmp_path / "b", seed=5, counts=counts, progress=False)
    c = dirty_copy(small, tmp_path / "c", seed=6, counts=counts, progress=False)
    assert _digest(a) == _digest(b), "the same seed gives the same files"
    assert _digest(a) != _digest(c)
    assert (a / "truth.csv").read_text().replace(str(a), str(b)) == (b / "truth.csv").read_text()
    with pytest.raises(ValueError, match="Unknown defect kind 'smudge'"):
        dirty_copy(small, tmp_path / "d", counts={"smudge": 3})
    with pytest.raises(ValueError, match="must be 0 or more"):
        dirty_copy(small, tmp_path / "d", counts={"dark": -1})
    with pytest.raises(ValueError, match=r"use \d+ original images but the set has 120 readable"):
        dirty_copy(small, tmp_path / "d", counts={"label_issue": 500}, progress=False)
    one_split = small[small["split"] == "train"]
    with pytest.raises(ValueError, match="leakage needs a second split"):
        dirty_copy(one_split, tmp_path / "e", counts={"leakage": 2}, progress=False)
    with pytest.raises(ValueError, match="lies inside the source"):
        dirty_copy(a, a / "train" / "more")
    assert not (tmp_path / "d").exists() and not (tmp_path / "e").exists()
    no_leak = dirty_copy(one_split, tmp_path / "f", counts=counts | {"leakage": 0}, progress=False)
    assert "leakage" not in set(pd.read_csv(no_leak / "truth.csv")["issue"])

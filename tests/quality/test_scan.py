"""scan_quality end to end: every issue found on images built to have it, none on clean ones.

The clean set is real data: scikit-learn's handwritten digits, upscaled to 32×32 and painted
in seeded random colours (so the set is a colour set, and two images differ in colour as
well as shape). Defects are planted beside them, each built with PIL as a user's editing would.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from cvnb.data import load_images
from cvnb.quality._report import ISSUES, QualityReport
from cvnb.quality._scan import DEFAULT_THRESHOLDS, resolve_thresholds, scan_quality

CLASSES = (0, 1, 7)
PER_CLASS = 14  # 10 train + 4 valid


def colour_digit(pixels: np.ndarray, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """An 8×8 digit scan upscaled (bicubic) and painted with random ink and paper colours."""
    ink = Image.fromarray(pixels).resize((size, size), Image.Resampling.BICUBIC)
    t = np.asarray(ink, dtype=np.float32)[..., None] / 255.0
    paper_v = rng.uniform(0.35, 0.85)
    ink_v = paper_v - 0.4 if paper_v > 0.6 else paper_v + 0.4
    paper = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.35, 0.7), paper_v))
    ink_rgb = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.35, 0.7), min(ink_v, 1)))
    rgb = (paper * (1 - t) + ink_rgb * t) * 255
    return Image.fromarray(rgb.round().astype(np.uint8))


def _img(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))


def build_dirty_set(root: Path) -> dict[str, list[str]]:
    """Write a clean colour-digit set plus one or more files per defect; return the plan.

    Returns:
        issue → absolute paths that must be flagged for it; "clean" → the untouched originals.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(digits.images * 16.0, 0, 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    plan: dict[str, list[str]] = {k: [] for k in (*ISSUES, "clean")}

    def save(img: Image.Image, split: str, label: object, name: str, **kw) -> str:
        path = root / split / str(label) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, **kw)
        return str(path)

    spare: list[tuple[int, int]] = []  # (digit image index, class) not used by the clean set
    for label in CLASSES:
        members = np.flatnonzero(digits.target == label)
        for k, i in enumerate(members[:PER_CLASS]):
            split = "train" if k < 10 else "valid"
            img = colour_digit(images[i], rng)
            plan["clean"].append(save(img, split, label, f"{i:04d}.png"))
        spare += [(int(i), label) for i in members[PER_CLASS : PER_CLASS + 7]]

    def fresh(n: int = 0) -> tuple[Image.Image, int]:
        i, label = spare.pop(n)
        return colour_digit(images[i], rng), label

    replaced = {
        "dark": lambda im: _img(np.asarray(im, np.float32) * 0.1),
        "bright": lambda im: _img(255 - (255 - np.asarray(im, np.float32)) * 0.1),
        "blurry": lambda im: im.filter(ImageFilter.GaussianBlur(2.5)),
        "low_information": lambda im: _img(
            np.array([200.0, 90.0, 60.0]) + 0.03 * (np.asarray(im, np.float32) - 128)
        ),
        "odd_size": lambda im: im.resize((12, 12), Image.Resampling.LANCZOS),
        "odd_aspect": lambda im: im.resize((64, 16), Image.Resampling.LANCZOS),
        "grayscale": lambda im: im.convert("L").convert("RGB"),
    }
    for issue, make in replaced.items():
        img, label = fresh()
        plan[issue].append(save(make(img), "train", label, f"{issue}.png"))
    img, label = fresh()  # enlarged from 32 px: odd in size, and soft at its own resolution
    big = save(img.resize((128, 128), Image.Resampling.LANCZOS), "train", label, "enlarged.png")
    plan["odd_size"].append(big)
    plan["blurry"].append(big)

    for name, data in (
        ("zero.png", b""),
        ("text.jpg", b"this is a text file with an image name\n"),
        ("truncated.png", Path(plan["clean"][0]).read_bytes()[:300]),
    ):
        path = root / "train" / "0" / name
        path.write_bytes(data)
        plan["unreadable"].append(str(path))

    def near(source: str, make, split: str, name: str, **kw) -> None:
        label = Path(source).parent.name
        copy = save(make(Image.open(source).convert("RGB")), split, label, name, **kw)
        plan["near_duplicate"] += [source, copy]
        if split != Path(source).parents[1].name:
            plan["leakage"] += [source, copy]

    clean_train = [p for p in plan["clean"] if "/train/" in p]
    exact_src, leak_src, leak_near_src = clean_train[1], clean_train[12], clean_train[23]
    for src, split in ((exact_src, "train"), (leak_src, "valid")):
        copy = root / split / Path(src).parent.name / f"copy-{Path(src).name}"
        shutil.copyfile(src, copy)
        plan["exact_duplicate"] += [src, str(copy)]
        plan["near_duplicate"] += [src, str(copy)]
        if split == "valid":
            plan["leakage"] += [src, str(copy)]
    near(
        clean_train[3],
        lambda im: im.resize((19, 19), Image.Resampling.BICUBIC).resize(
            (32, 32), Image.Resampling.BICUBIC
        ),
        "train",
        "resized.png",
    )
    near(clean_train[5], lambda im: im, "train", "recompressed.jpg", quality=70)
    near(clean_train[14], lambda im: im.crop((2, 2, 32, 32)).resize((32, 32)), "train",
         "cropped.png")  # fmt: skip
    near(clean_train[16], lambda im: _img(np.asarray(im, np.float32) + 30), "train",
         "brighter.png")  # fmt: skip
    near(leak_near_src, lambda im: im.resize((24, 24)).resize((32, 32)), "valid", "leak.png")

    img, true_label = fresh()
    wrong = 1 if true_label == 0 else 0
    plan["label_issue"].append(save(img, "train", wrong, "mislabelled.png"))
    plan["true_label"] = str(true_label)  # type: ignore[assignment]
    from sklearn.datasets import load_sample_images

    photo = load_sample_images().images[0][100:260, 200:360]
    plan["outlier"].append(save(Image.fromarray(photo).resize((32, 32)), "train", 7, "photo.png"))
    touched = set().union(*(set(v) for k, v in plan.items() if k in ISSUES))
    plan["clean"] = [p for p in plan["clean"] if p not in touched]
    return plan


def folder_state(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under root."""
    return {
        str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def embedder():
    from cvnb.quality._embed import make_embedder

    return make_embedder()


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    root = tmp_path_factory.mktemp("dirty")
    plan = build_dirty_set(root)
    before = folder_state(root)
    return root, plan, before


@pytest.fixture(scope="module")
def scanned(dirty, embedder, tmp_path_factory):
    root = dirty[0]
    df = load_images(root)
    cache = tmp_path_factory.mktemp("cache") / "scan.sqlite"
    report = scan_quality(df, embedder=embedder, cache=cache, progress=False, chunk_size=16)
    return df, report


def _flagged(report: QualityReport, issue: str) -> set[str]:
    return set(report.table.loc[report.table[f"is_{issue}"], "path"])


@pytest.mark.parametrize(
    "issue",
    [
        "unreadable",
        "exact_duplicate",
        "near_duplicate",
        "leakage",
        "dark",
        "bright",
        "blurry",
        "low_information",
        "odd_size",
        "odd_aspect",
        "grayscale",
    ],
)
def test_issue_found_and_clean_images_not_flagged(scanned, dirty, issue):
    _, report = scanned
    _, plan, _ = dirty
    planted = set(plan[issue])
    assert planted, issue
    flagged = _flagged(report, issue)
    assert planted <= flagged, f"missed {sorted(planted - flagged)}"
    assert not flagged & set(plan["clean"]), f"clean images flagged for {issue}"
    assert flagged == planted


def test_ranked_issues_put_the_planted_image_first(scanned, dirty):
    _, report = scanned
    _, plan, _ = dirty
    for issue in ("outlier", "label_issue"):
        top = report.ranked(issue)["path"].iloc[0]
        assert top in plan[issue], (issue, report.ranked(issue)[["path", f"{issue}_score"]][:3])
    assert set(plan["outlier"]) <= _flagged(report, "outlier")
    assert not _flagged(report, "outlier") & set(plan["clean"])
    assert not _flagged(report, "label_issue") & set(plan["clean"])
    row = report.table[report.table["path"] == plan["label_issue"][0]].iloc[0]
    assert row["suggested_label"] == plan["true_label"]
    assert row["label_confidence"] < 0.5  # the probe doubts the given label
    near = report.ranked("near_duplicate")["path"].iloc[: len(plan["near_duplicate"])]
    assert set(near) == set(plan["near_duplicate"])


def test_table_schema(scanned, dirty):
    df, report = scanned
    table = report.table
    assert table.index.equals(df.index)
    assert list(table["path"]) == list(df["path"])
    for issue in ISSUES:
        scores = table[f"{issue}_score"]
        assert scores.dtype == float
        assert scores.dropna().between(0, 1).all(), issue
        assert table[f"is_{issue}"].dtype == bool
        assert not (table[f"is_{issue}"] & scores.isna()).any(), issue
    bad = table["is_unreadable"]
    assert set(table.loc[bad, "unreadable_reason"].str.len() > 0) == {True}
    assert (table.loc[~bad, "unreadable_reason"] == "").all()
    other = [f"{i}_score" for i in ISSUES if i != "unreadable"]
    assert table.loc[bad, other].isna().all().all()
    assert table.loc[~bad, ["width", "height"]].notna().all().all()
    exact = report.groups("exact")
    near = report.groups("near")
    assert len(exact) == 2 and all(len(g) == 2 for g in exact)
    for group in exact:  # a near group holds its exact members
        assert any(set(group) <= set(g) for g in near)
    assert (table.loc[table["exact_group"] >= 0, "near_group"] >= 0).all()
    ok = table[~bad]
    assert ok["nearest_index"].isin(table.index).all()
    assert ok["nearest_similarity"].between(-1, 1.0001).all()
    assert list(report.summary.index) == list(ISSUES)
    assert report.summary.loc["unreadable", "n_flagged"] == 3
    assert report.dataset_issues.loc["class_imbalance", "score"] == pytest.approx(
        table["label"].value_counts().min() / table["label"].value_counts().max()
    )
    assert report.settings["files_read"] == len(df) - 3  # load_images found the 3 broken
    assert report.settings["cache"]["chunks_written"] == -(-len(df) // 16)


def test_files_unchanged_after_scan(scanned, dirty):
    root, _, before = dirty
    assert folder_state(root) == before


def test_unreadable_reasons_come_from_the_reader(tmp_path, embedder):
    folder = tmp_path / "a"
    folder.mkdir()
    Image.new("RGB", (16, 16), (10, 200, 30)).save(folder / "ok.png")
    (folder / "empty.jpg").write_bytes(b"")
    table = pd.DataFrame({"path": [str(folder / "ok.png"), str(folder / "empty.jpg"),
                                   str(folder / "missing.png")], "label": "a"})  # fmt: skip
    report = scan_quality(table, embedder=embedder, cache=False, progress=False)
    reasons = report.table["unreadable_reason"].tolist()
    assert reasons == ["", "file is empty (0 bytes)", "file not found"]
    assert report.table["is_unreadable"].tolist() == [False, True, True]
    assert report.table["label_issue_score"].isna().all()  # one class: nothing to judge
    assert report.settings["files_read"] == 2


def test_chunking_and_cache_do_not_change_results(scanned, embedder):
    df, report = scanned
    again = scan_quality(df, embedder=embedder, cache=False, progress=False, chunk_size=1000)
    pd.testing.assert_frame_equal(again.table, report.table)


def test_index_labels_are_kept(dirty, embedder):
    root, _, _ = dirty
    df = load_images(root).iloc[:12]
    df.index = [f"img{k}" for k in range(len(df))]
    report = scan_quality(df, embedder=embedder, cache=False, progress=False)
    assert list(report.table.index) == list(df.index)
    assert set(report.table["nearest_index"].dropna()) <= set(df.index)


def test_without_embeddings_hashes_still_find_duplicates(dirty, scanned):
    _, plan, _ = dirty
    df, _ = scanned
    report = scan_quality(df, embedder=False, cache=False, progress=False)
    assert report.table["outlier_score"].isna().all()
    assert report.table["nearest_index"].isna().all()
    assert set(plan["exact_duplicate"]) <= _flagged(report, "exact_duplicate")
    assert report.settings["embedder"] is None


def test_arguments_are_checked():
    df = pd.DataFrame({"path": ["a.png"]})
    with pytest.raises(ValueError, match="engine"):
        scan_quality(df, engine="magic")
    with pytest.raises(ValueError, match="Unknown thresholds"):
        scan_quality(df, thresholds={"darkness": 0.1}, embedder=False)
    with pytest.raises(ValueError, match="near_duplicate"):
        scan_quality(df, thresholds={"leakage": 0.1}, embedder=False)
    with pytest.raises(ValueError, match="path"):
        scan_quality(pd.DataFrame({"file": ["a.png"]}), embedder=False)
    with pytest.raises(ValueError, match="reset_index"):
        scan_quality(pd.DataFrame({"path": ["a", "b"]}, index=[0, 0]), embedder=False)
    assert resolve_thresholds({"dark": 0.3})["dark"] == 0.3
    assert resolve_thresholds(None)["leakage"] == DEFAULT_THRESHOLDS["near_duplicate"]


def test_grayscale_is_not_an_issue_in_a_grey_set(tmp_path):
    from sklearn.datasets import load_digits

    images = np.clip(load_digits().images[:12] * 16, 0, 255).astype(np.uint8)
    paths = []
    for k, pixels in enumerate(images):
        path = tmp_path / f"{k}.png"
        Image.fromarray(pixels).resize((32, 32)).save(path)
        paths.append(str(path))
    # One colour image among grey ones: grey is the norm here, so nothing is flagged.
    Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "red.png")
    df = pd.DataFrame({"path": [*paths, str(tmp_path / "red.png")], "label": "x"})
    report = scan_quality(df, embedder=False, cache=False, progress=False)
    assert report.table["grayscale_score"].isna().all()
    assert not report.table["is_grayscale"].any()
    assert report.settings["grayscale_applies"] is False


def test_jpeg_bytes_are_read_not_rewritten(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (120, 50, 200)).save(buf, "JPEG")
    path = tmp_path / "x.jpg"
    path.write_bytes(buf.getvalue())
    os.chmod(path, 0o444)  # read-only: a write attempt would fail loudly
    report = scan_quality(
        pd.DataFrame({"path": [str(path)]}), embedder=False, cache=False, progress=False
    )
    assert not report.table["is_unreadable"].any()
    assert path.read_bytes() == buf.getvalue()


def test_report_saves_and_loads(scanned, tmp_path):
    _, report = scanned
    loaded = QualityReport.load(report.save(tmp_path / "scan.parquet"))
    pd.testing.assert_frame_equal(loaded.table, report.table)
    assert loaded.groups("near") == report.groups("near")
    assert loaded.settings["files_read"] == report.settings["files_read"]

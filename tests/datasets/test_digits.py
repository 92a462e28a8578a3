"""digits(): scikit-learn's handwritten digits written once as real PNG files."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from cvnb.data import load_images
from cvnb.datasets import cache_dir, digits

MARKER = ".cvnb-digits-v1"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return digits(root=tmp_path_factory.mktemp("cache") / "digits")


@pytest.fixture(scope="module")
def sk_digits():
    return load_digits()


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _pngs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.png"))


def test_writes_every_scan_once_as_an_8x8_grayscale_png(built, sk_digits):
    files = _pngs(built)
    assert len(files) == 1797 == len(sk_digits.images)
    indices = sorted(int(p.stem) for p in files)
    assert indices == list(range(1797)), "each sklearn image is written exactly once"
    assert {p.parent.parent.name for p in files} == {"train", "valid"}
    assert {p.parent.name for p in files} == {str(d) for d in range(10)}
    for p in files:
        with Image.open(p) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "L", (8, 8)), p
    assert (built / MARKER).is_file()
    assert not list(built.parent.glob(".digits-*")), "no temporary build folder is left"


def test_labels_follow_sklearn_targets(built, sk_digits):
    for p in _pngs(built):
        assert int(p.parent.name) == int(sk_digits.target[int(p.stem)]), p


def test_split_is_80_20_and_stratified(built, sk_digits):
    files = _pngs(built)
    valid = Counter(p.parent.name for p in files if p.parent.parent.name == "valid")
    total = Counter(str(t) for t in sk_digits.target)
    assert sum(valid.values()) == 360  # ceil(0.2 * 1797), as scikit-learn rounds
    for label, n in total.items():
        assert abs(valid[label] - 0.2 * n) <= 1, (label, valid[label], n)


def test_pixels_equal_sklearn_images_scaled_by_16(built, sk_digits):
    # 0-16 intensities times 16, so 16 becomes 256 and must be clipped to 255.
    expected = np.clip(sk_digits.images * 16, 0, 255).astype(np.uint8)
    files = _pngs(built)
    rng = np.random.default_rng(0)
    sample = [files[i] for i in rng.choice(len(files), size=50, replace=False)]
    pixels = {p: _pixels(p) for p in sample}
    for p, got in pixels.items():
        np.testing.assert_array_equal(got, expected[int(p.stem)], err_msg=str(p))
    assert any(got.max() == 255 for got in pixels.values())


def test_second_call_is_a_no_op(built):
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in built.rglob("*")}
    start = time.monotonic()
    again = digits(root=built)
    elapsed = time.monotonic() - start
    assert again == built
    assert elapsed < 1.0, f"a complete folder should be reused, took {elapsed:.2f}s"
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in built.rglob("*")}
    assert after == before


def test_load_images_reads_every_row(built):
    df = load_images(built)
    assert len(df) == 1797
    assert df["error"].isna().all()
    assert set(df["split"]) == {"train", "valid"}
    assert sorted(df["label"].unique()) == [str(d) for d in range(10)]
    assert (df["width"] == 8).all() and (df["height"] == 8).all()
    assert df.groupby("split").size().to_dict() == {"train": 1437, "valid": 360}


def test_interrupted_build_under_cvnb_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("CVNB_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    # What an interrupted build of an older version could leave: files, no marker.
    stale = tmp_path / "cache" / "digits"
    (stale / "train" / "3").mkdir(parents=True)
    (stale / "train" / "3" / "0001.png").write_bytes(b"\x89PNG half-written")
    (stale / "junk.txt").write_text("left over")
    root = digits()
    assert root == stale
    assert (root / MARKER).is_file()
    assert not (root / "junk.txt").exists()
    files = _pngs(root)
    assert len(files) == 1797
    for p in files[:50]:
        with Image.open(p) as im:
            im.load()
    assert sorted(os.listdir(tmp_path / "cache")) == ["digits"]


def test_valid_pct_out_of_range_is_rejected_before_writing(tmp_path, monkeypatch):
    monkeypatch.setenv("CVNB_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="valid_pct"):
        digits(valid_pct=1.0)
    with pytest.raises(ValueError, match="valid_pct"):
        digits(valid_pct=0.0)
    assert not list(tmp_path.iterdir()), "a rejected call writes nothing"


def test_a_foreign_folder_given_as_root_is_never_touched(tmp_path):
    mine = tmp_path / "my-photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="never deletes"):
        digits(root=mine)
    assert sorted(os.listdir(mine)) == ["holiday.jpg"]
    assert (mine / "holiday.jpg").read_bytes() == b"precious"


def test_same_root_with_another_split_raises(tmp_path):
    root = digits(root=tmp_path / "d")
    with pytest.raises(ValueError, match=r"valid_pct=0\.3"):
        digits(root=root, valid_pct=0.3)
    assert digits(root=root) == root

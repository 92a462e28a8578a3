"""The scan cache: unchanged files are not read again, and a stopped scan keeps its chunks."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cvnb.quality._scan import scan_quality
from cvnb.quality._scan_cache import ScanCache, default_cache_path, open_cache


def _write_images(folder: Path, start: int, count: int) -> list[str]:
    """Real digit scans, upscaled and coloured, as PNG files."""
    from sklearn.datasets import load_digits

    images = np.clip(load_digits().images * 16, 0, 255).astype(np.uint8)
    rng = np.random.default_rng(start)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        ink = np.asarray(Image.fromarray(images[i]).resize((32, 32)), np.float32)[..., None] / 255
        paper, colour = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
        rgb = (paper * (1 - ink) + colour * ink).round().astype(np.uint8)
        path = folder / f"{i:04d}.png"
        Image.fromarray(rgb).save(path)
        paths.append(str(path))
    return paths


def _table(paths: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"path": paths, "label": [str(k % 2) for k in range(len(paths))]})


@pytest.fixture(scope="module")
def embedder():
    from cvnb.quality._embed import make_embedder

    return make_embedder()


def test_rescan_after_adding_files_reads_only_the_new_ones(tmp_path, embedder):
    paths = _write_images(tmp_path / "img", 0, 20)
    cache = tmp_path / "cache.sqlite"
    first = scan_quality(_table(paths), embedder=embedder, cache=cache, progress=False,
                         chunk_size=8)  # fmt: skip
    assert first.settings["files_read"] == 20
    assert first.settings["cache"]["chunks_written"] == 3

    added = _write_images(tmp_path / "img", 100, 3)
    second = scan_quality(_table(paths + added), embedder=embedder, cache=cache,
                          progress=False, chunk_size=8)  # fmt: skip
    counts = second.settings["cache"]
    assert second.settings["files_read"] == 3
    assert (counts["file_hits"], counts["file_misses"]) == (20, 3)
    assert counts["embedding_hits"] == 20
    # Absolute scores of the cached images come back unchanged (relative ones move with
    # the set).
    old = second.table.iloc[:20]
    for col in ("dark_score", "low_information_score", "width", "unreadable_reason"):
        pd.testing.assert_series_equal(old[col], first.table[col])

    third = scan_quality(_table(paths + added), embedder=embedder, cache=cache,
                         progress=False)  # fmt: skip
    assert third.settings["files_read"] == 0
    pd.testing.assert_frame_equal(third.table, second.table)


def test_changed_file_is_read_again_and_renamed_content_is_not_decoded(tmp_path, embedder):
    paths = _write_images(tmp_path / "img", 0, 6)
    cache = tmp_path / "cache.sqlite"
    scan_quality(_table(paths), embedder=embedder, cache=cache, progress=False)
    Image.new("RGB", (32, 32), (255, 0, 0)).save(paths[0])  # new content, new mtime
    moved = tmp_path / "img" / "renamed.png"
    os.rename(paths[1], moved)
    paths[1] = str(moved)
    report = scan_quality(_table(paths), embedder=embedder, cache=cache, progress=False)
    counts = report.settings["cache"]
    assert report.settings["files_read"] == 2  # both hashed; only the changed one decoded
    assert counts["feature_hits"] == 5 and counts["feature_misses"] == 1
    assert counts["embedding_hits"] == 5


def test_stopped_scan_keeps_finished_chunks(tmp_path, embedder):
    class StopsOnSecondChunk:
        """A real embedder that fails (like a killed process) on its second call."""

        def __init__(self, inner):
            self.inner, self.key, self.dim, self.size, self.calls = (
                inner,
                inner.key,
                inner.dim,
                64,
                0,
            )

        def __call__(self, images):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return self.inner(images)

    paths = _write_images(tmp_path / "img", 0, 12)
    cache = tmp_path / "cache.sqlite"
    with pytest.raises(KeyboardInterrupt):
        scan_quality(_table(paths), embedder=StopsOnSecondChunk(embedder), cache=cache,
                     progress=False, chunk_size=5, workers=1)  # fmt: skip
    report = scan_quality(_table(paths), embedder=embedder, cache=cache, progress=False)
    assert report.settings["files_read"] == 7  # the first chunk of 5 survived
    assert report.settings["cache"]["embedding_hits"] == 5


def test_cache_tables_round_trip(tmp_path):
    store = ScanCache(tmp_path / "c.sqlite")
    key = (str(tmp_path / "a.png"), 10, 123)
    vec = np.linspace(-1, 1, 8, dtype=np.float32)
    store.write(
        files=[(key, "abc")],
        features=[("abc", "v1", {"error": None, "stats": [1.5, float("nan")]})],
        embeddings=[("abc", "model-a", vec)],
    )
    assert store.lookup_files([key]) == {key[0]: "abc"}
    assert store.lookup_files([(key[0], 10, 124)]) == {}  # another mtime: another file
    feats = store.lookup_features(["abc", "zzz"], "v1")
    assert list(feats) == ["abc"] and np.isnan(feats["abc"]["stats"][1])
    assert store.lookup_features(["abc"], "v2") == {}
    got = store.lookup_embeddings(["abc"], "model-a")["abc"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, vec.astype(np.float16).astype(np.float32))
    assert store.lookup_embeddings(["abc"], "model-b") == {}
    assert store.summary()["file_hits"] == 1 and store.summary()["file_misses"] == 1
    store.close()
    db = sqlite3.connect(tmp_path / "c.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_failed_write_leaves_nothing_behind(tmp_path):
    store = ScanCache(tmp_path / "c.sqlite")
    key = (str(tmp_path / "a.png"), 1, 1)
    with pytest.raises(TypeError):
        store.write(files=[(key, "abc")], features=[("abc", "v1", {"bad": object()})])
    assert store.lookup_files([key]) == {}
    store.write(files=[(key, "abc")])
    assert store.lookup_files([key]) == {key[0]: "abc"}


def test_disabled_cache_remembers_nothing(tmp_path):
    store = open_cache(False)
    assert not store.enabled
    store.write(files=[((str(tmp_path / "a"), 1, 1), "abc")])
    assert store.lookup_files([(str(tmp_path / "a"), 1, 1)]) == {}
    assert open_cache(tmp_path / "x.sqlite").path == tmp_path / "x.sqlite"


def test_default_cache_lives_under_cvnb_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CVNB_CACHE", str(tmp_path))
    assert default_cache_path() == tmp_path / "quality" / "scan-cache.sqlite"


def test_unusable_cache_file_says_what_to_do(tmp_path):
    bad = tmp_path / "c.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RuntimeError, match="delete it"):
        ScanCache(bad)


def test_cache_of_another_layout_is_rebuilt(tmp_path):
    path = tmp_path / "c.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE files (x)")
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    store = ScanCache(path)
    store.write(files=[((str(tmp_path / "a"), 1, 1), "abc")])
    assert store.lookup_files([(str(tmp_path / "a"), 1, 1)]) == {str(tmp_path / "a"): "abc"}

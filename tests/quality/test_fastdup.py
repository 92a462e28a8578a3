"""The fastdup engine: its errors (tested for real where fastdup is absent) and its mapping.

The main environment has no fastdup (it pins numpy<2 and Pillow==10.3.0), so the error
paths run everywhere. The mapping tests need fastdup: they run in an environment that has
it (``.venv-fastdup/bin/python -m pytest tests/quality/test_fastdup.py``), or from any
environment whose ``CVNB_FASTDUP_PYTHON`` names such an interpreter; elsewhere they skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cvnb.data import load_images
from cvnb.quality._fastdup import (
    FASTDUP_PYTHON_ENV,
    EngineUnavailable,
    fastdup_available,
    scan_fastdup,
)
from cvnb.quality._report import ISSUES, QualityReport

HAS_FASTDUP = importlib.util.find_spec("fastdup") is not None


@pytest.fixture
def no_fastdup_env(monkeypatch):
    monkeypatch.delenv(FASTDUP_PYTHON_ENV, raising=False)


def _base_python() -> str:
    """This venv's base interpreter: a real Python without fastdup (or the test skips)."""
    exe = Path(sys.base_prefix) / "bin" / "python3"
    if not exe.is_file() or fastdup_available(exe):
        pytest.skip("no interpreter without fastdup next to this one")
    return str(exe)


@pytest.mark.skipif(HAS_FASTDUP, reason="fastdup is installed here")
def test_missing_fastdup_says_how_to_install_and_names_the_builtin_engine(
    digits_subset, no_fastdup_env
):
    from cvnb.quality._scan import scan_quality

    assert not fastdup_available()
    for scan in (scan_fastdup, lambda df: scan_quality(df, engine="fastdup")):
        with pytest.raises(EngineUnavailable) as err:
            scan(digits_subset.head(5))
        message = str(err.value)
        assert "pip install 'cvnb[fastdup]'" in message
        assert "engine='builtin'" in message
        assert isinstance(err.value, ImportError)


def test_interpreter_without_fastdup_is_reported_from_the_child(digits_subset, tmp_path):
    python = _base_python()
    with pytest.raises(EngineUnavailable, match=r"not installed for .*python3"):
        scan_fastdup(digits_subset.head(5), python=python, work_dir=tmp_path / "fd")
    # The work folder holds fastdup's log and cvnb's marker, nothing in the image folder.
    assert (tmp_path / "fd" / "fastdup.log").is_file()


def test_missing_interpreter(digits_subset, tmp_path):
    with pytest.raises(EngineUnavailable, match="No Python interpreter"):
        scan_fastdup(digits_subset.head(5), python=tmp_path / "nope" / "python")


def test_refusal_carries_fastdups_message_and_telemetry_is_off(
    digits_subset, tmp_path, monkeypatch
):
    python = _base_python()
    # A stand-in package named fastdup that refuses at import, as fastdup itself does when
    # its release is too old (RuntimeError) - a real refusal cannot be triggered here.
    pkg = tmp_path / "site" / "fastdup"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import os\n"
        "raise RuntimeError('fastdup detected your are running an old version; '\n"
        "                   'SENTRY_OPT_OUT=' + os.environ.get('SENTRY_OPT_OUT', 'unset'))\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    monkeypatch.delenv("SENTRY_OPT_OUT", raising=False)
    with pytest.raises(EngineUnavailable) as err:
        scan_fastdup(digits_subset.head(5), python=python, progress=False)
    message = str(err.value)
    assert "refused or failed" in message
    assert "RuntimeError: fastdup detected your are running an old version" in message
    assert "SENTRY_OPT_OUT=1" in message  # set before fastdup was imported
    assert "engine='builtin'" in message
    assert "SENTRY_OPT_OUT" not in os.environ  # only the child's environment


def test_work_dir_with_other_files_is_refused_and_left_alone(digits_subset, tmp_path):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="did not write"):
        scan_fastdup(digits_subset.head(5), python=_base_python(), work_dir=mine)
    assert [p.name for p in mine.iterdir()] == ["keep.txt"]


def test_bad_arguments(digits_subset):
    with pytest.raises(ValueError, match="path"):
        scan_fastdup(pd.DataFrame({"file": ["a.png"]}))
    with pytest.raises(ValueError, match="Unknown thresholds"):
        scan_fastdup(digits_subset.head(3), thresholds={"sharpness": 0.2})
    with pytest.raises(ValueError, match="leakage"):
        scan_fastdup(digits_subset.head(3), thresholds={"leakage": 0.2})


def test_scan_quality_fastdup_refuses_builtin_only_arguments(digits_subset):
    from cvnb.quality._scan import scan_quality

    df = digits_subset.head(3)
    for extra in ({"embedder": False}, {"cache": False}, {"chunk_size": 8}):
        with pytest.raises(ValueError, match=f"cannot use {next(iter(extra))}"):
            scan_quality(df, engine="fastdup", **extra)
    with pytest.raises(ValueError, match="workers or threads"):
        scan_quality(df, engine="fastdup", workers=2, threads=2)


# --- mapping: needs fastdup ------------------------------------------------------------


def _colour(path: str, rng: np.random.Generator) -> Image.Image:
    """A digit scan upscaled to 32 px and painted in two random colours."""
    grey = np.asarray(Image.open(path).convert("L").resize((32, 32), Image.BICUBIC), np.float32)
    fg, bg = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    alpha = (grey / 255.0)[..., None]
    return Image.fromarray((alpha * fg + (1 - alpha) * bg).round().astype(np.uint8))


@pytest.fixture(scope="module")
def planted(digits_table, tmp_path_factory):
    """36 colour digits plus one planted defect of each kind fastdup can see, and truth."""
    root = tmp_path_factory.mktemp("fastdup-set")
    rng = np.random.default_rng(0)
    clean = digits_table.groupby(["split", "label"]).head(2).reset_index(drop=True)
    for row in clean.itertuples():
        dest = root / row.split / str(row.label) / Path(row.path).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        _colour(row.path, rng).save(dest)
    first = sorted((root / "train" / "3").iterdir())[0]
    shutil.copyfile(first, root / "valid" / "3" / "copy.png")  # exact + leakage
    (root / "train" / "5" / "empty.png").write_bytes(b"")
    whole = first.read_bytes()
    (root / "train" / "5" / "cut.png").write_bytes(whole[: len(whole) // 2])
    pixels = np.asarray(Image.open(first), np.float32)
    Image.fromarray((pixels * 0.01).astype(np.uint8)).save(root / "train" / "7" / "dark.png")
    Image.open(first).convert("L").convert("RGB").save(root / "train" / "8" / "grey.png")
    truth = {"copy": first, "empty": None, "cut": None, "dark": None, "grey": None}
    return root, truth


@pytest.fixture(scope="module")
def fastdup_report(planted, tmp_path_factory):
    if not HAS_FASTDUP and not (os.environ.get(FASTDUP_PYTHON_ENV) and fastdup_available()):
        pytest.importorskip("fastdup", reason=f"no fastdup here, and {FASTDUP_PYTHON_ENV} unset")
    root, _ = planted
    df = load_images(root)
    wd = tmp_path_factory.mktemp("fd-work")
    return df, scan_fastdup(df, threads=1, progress=False, work_dir=wd), wd


def _row(report: QualityReport, name: str) -> pd.Series:
    rows = report.table[report.table["path"].map(lambda p: Path(p).stem == name)]
    assert len(rows) == 1, name
    return rows.iloc[0]


def test_schema_matches_the_builtin_engine(fastdup_report):
    from cvnb.quality._scan import scan_quality

    df, report, _ = fastdup_report
    builtin = scan_quality(df.head(8), embedder=False, cache=False, progress=False)
    assert report.engine == "fastdup"
    assert list(report.table.columns) == list(builtin.table.columns)
    assert report.table.index.equals(df.index)
    assert list(report.summary.index) == list(ISSUES)
    assert list(report.summary.columns) == list(builtin.summary.columns)
    assert list(report.dataset_issues.index) == ["class_imbalance"]
    for issue in ISSUES:
        scores = report.table[f"{issue}_score"].dropna()
        assert scores.between(0, 1).all(), issue
        assert report.table[f"is_{issue}"].dtype == bool
    assert set(report.settings["not_covered"]) >= {"exact_duplicate", "label_issue"}
    assert report.settings["fastdup_version"].startswith("2.")


def test_planted_defects_are_mapped(fastdup_report, planted):
    _, report, _ = fastdup_report
    _, truth = planted
    for name in ("empty", "cut"):
        row = _row(report, name)
        assert row["is_unreadable"] and row["unreadable_reason"], name
        assert row[[f"{i}_score" for i in ISSUES if i != "unreadable"]].isna().all(), name
    copy, source = _row(report, "copy"), _row(report, truth["copy"].stem)
    for row in (copy, source):
        assert row["is_exact_duplicate"] and row["is_near_duplicate"] and row["is_leakage"]
    assert copy["exact_group"] == source["exact_group"] >= 0
    assert copy["near_group"] == source["near_group"] >= 0
    assert copy["nearest_similarity"] == pytest.approx(1.0, abs=1e-3)
    assert _row(report, "dark")["is_dark"]
    assert _row(report, "grey")["is_grayscale"]

    clean = report.table[~report.table["path"].map(lambda p: Path(p).stem).isin(truth)]
    clean = clean[clean["path"] != str(truth["copy"])]
    for issue in ("unreadable", "exact_duplicate", "dark", "grayscale"):
        assert not clean[f"is_{issue}"].any(), issue
    readable = report.table[report.table["unreadable_reason"] == ""]
    assert readable["nearest_index"].isin(report.table.index).all()
    assert readable["label_confidence"].between(0, 1).all()


def test_report_round_trips_and_work_dir_keeps_fastdups_files(fastdup_report, tmp_path):
    _, report, wd = fastdup_report
    assert (wd / "similarity.csv").is_file() and (wd / "fastdup.log").is_file()
    back = QualityReport.load(report.save(tmp_path / "scan.parquet"))
    assert back.engine == "fastdup"

    def plain(t: pd.DataFrame) -> pd.DataFrame:  # Parquet brings str columns back as object
        return t.astype(object).where(t.notna(), None)

    pd.testing.assert_frame_equal(plain(back.table), plain(report.table))


def test_rescan_into_the_same_work_dir(fastdup_report):
    df, _, wd = fastdup_report
    (wd / "gallery.html").write_text("kept")  # a file of the user's own beside fastdup's
    again = scan_fastdup(df.head(6), threads=1, progress=False, work_dir=wd)
    assert len(again.table) == 6
    assert len(pd.read_csv(wd / "files.csv")) == 6  # this run's outputs, not the last one's
    assert (wd / "gallery.html").read_text() == "kept"

"""Run records: atomic JSON writes, metric merging per notebook, settings from the environment."""

from __future__ import annotations

import json
import os

import pytest

from cvnb.runs import METRICS_FILE, read_metrics, record_metrics, settings_from_env, write_json


def test_record_metrics_merges_and_replaces(tmp_path):
    assert read_metrics(tmp_path) == {}
    record_metrics(tmp_path, accuracy=0.5, dataset="digits")
    merged = record_metrics(tmp_path, accuracy=0.9, onnx={"max_abs_diff": 1e-4})
    assert merged == {"accuracy": 0.9, "dataset": "digits", "onnx": {"max_abs_diff": 1e-4}}
    assert json.loads((tmp_path / METRICS_FILE).read_text()) == merged


def test_write_json_leaves_old_file_intact_when_serialization_fails(tmp_path):
    target = write_json(tmp_path / "m.json", {"ok": 1})
    before = target.read_bytes()

    class Boom:
        def __str__(self):
            raise RuntimeError("cannot serialize")

    with pytest.raises(RuntimeError, match="cannot serialize"):
        write_json(target, {"bad": Boom()})
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.json"]  # no temporary file left behind


def test_sections_keep_each_notebooks_figures_apart(tmp_path):
    record_metrics(tmp_path, "00_quickstart", epochs=5, wall_seconds=40.0)
    record_metrics(tmp_path, "05_transfer_learning", epochs=2, wall_seconds=60.0)
    record_metrics(tmp_path, "00_quickstart", accuracy=0.98)
    merged = record_metrics(tmp_path, accuracy=0.98)
    assert merged == {
        "00_quickstart": {"epochs": 5, "wall_seconds": 40.0, "accuracy": 0.98},
        "05_transfer_learning": {"epochs": 2, "wall_seconds": 60.0},
        "accuracy": 0.98,
    }


def test_settings_from_env(monkeypatch):
    for name in ("CVNB_DEPTH", "CVNB_FAST", "CVNB_DATA"):
        monkeypatch.delenv(name, raising=False)
    assert settings_from_env("full", None) == ("full", None)
    monkeypatch.setenv("CVNB_FAST", "1")  # what CI sets for nbval
    assert settings_from_env("demo", "/photos") == ("fast", "/photos")
    monkeypatch.setenv("CVNB_DEPTH", "demo")  # an explicit depth wins over CVNB_FAST
    monkeypatch.setenv("CVNB_DATA", "/mine")
    assert settings_from_env("full", None) == ("demo", "/mine")
    monkeypatch.setenv("CVNB_DEPTH", "quick")
    with pytest.raises(ValueError, match="CVNB_DEPTH"):
        settings_from_env("full", None)

"""Run records: atomic JSON writes and metric merging."""

from __future__ import annotations

import json
import os

import pytest

from cvnb.runs import METRICS_FILE, read_metrics, record_metrics, write_json


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

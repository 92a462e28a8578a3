"""A fitted temperature travels into the ONNX graph: the file's softmax is calibrated too."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest

from cvnb.evaluate import fit_temperature, predictions
from cvnb.evaluate._logits import calibrated_probs
from cvnb.export import export_onnx, load_onnx, parity_report
from cvnb.train import fit_probe_head, make_learner


@pytest.fixture(scope="module")
def calibrated(digits_subset):
    """cvnb's probe with plain cross-entropy (overconfident, ~3 s), temperature fitted."""
    learn = make_learner(digits_subset, img_size=32, bs=32, label_smoothing=0.0)
    fit_probe_head(learn, progress=False)
    fit_temperature(learn)
    return learn


@pytest.fixture(scope="module")
def exports(calibrated, tmp_path_factory):
    """The same model exported with its temperature and with the config at T = 1."""
    folder = tmp_path_factory.mktemp("temperature")
    scaled = export_onnx(calibrated, folder / "scaled.onnx", dynamo=False)
    config = calibrated.cvnb_config
    calibrated.cvnb_config = dataclasses.replace(config, temperature=1.0)
    try:
        plain = export_onnx(calibrated, folder / "plain.onnx", dynamo=False, parity=False)
    finally:
        calibrated.cvnb_config = config
    return scaled, plain


def test_onnx_softmax_equals_the_calibrated_torch_probabilities(calibrated, exports, tmp_path):
    scaled, _ = exports
    temperature = calibrated.cvnb_config.temperature
    assert temperature > 1.0
    assert scaled.parity is not None and scaled.parity.ok, scaled.parity  # logits / T, atol 1e-3
    assert scaled.config["temperature"] == temperature
    recorded = json.loads(
        {p.key: p.value for p in onnx.load(scaled.path).metadata_props}["cvnb_config"]
    )
    assert recorded["temperature"] == temperature
    items = calibrated.dls.valid.items
    expected = calibrated_probs(calibrated, items).numpy()
    clf = load_onnx(scaled.path)
    proba = clf.predict_proba(list(items["path"]))
    np.testing.assert_allclose(proba, expected, atol=1e-4)
    table = clf.predict(list(items["path"]))
    np.testing.assert_allclose(table["prob"], predictions(calibrated)["prob"], atol=1e-4)
    # A learner whose temperature changed after export no longer matches its file.
    config = calibrated.cvnb_config
    calibrated.cvnb_config = dataclasses.replace(config, temperature=1.0)
    try:
        assert not parity_report(calibrated, scaled.path, max_images=64).ok
    finally:
        calibrated.cvnb_config = config


def test_temperature_one_adds_no_node(calibrated, exports):
    scaled, plain = exports
    scaled_ops = [n.op_type for n in onnx.load(scaled.path).graph.node]
    plain_ops = [n.op_type for n in onnx.load(plain.path).graph.node]
    assert scaled_ops == [*plain_ops, "Div"]  # one division of the logits, at the end
    assert onnx.load(scaled.path).graph.node[-1].output == ["logits"]
    assert plain.config["temperature"] == 1.0
    # Same model, other confidence: the classes agree, the calibrated file is less sure.
    paths = list(calibrated.dls.valid.items["path"])[::4]
    soft, sharp = load_onnx(scaled.path).predict(paths), load_onnx(plain.path).predict(paths)
    assert soft["label"].tolist() == sharp["label"].tolist()
    assert (soft["prob"] <= sharp["prob"] + 1e-6).all() and soft["prob"].mean() < sharp[
        "prob"
    ].mean()


def test_a_bad_temperature_is_refused(calibrated, tmp_path):
    config = calibrated.cvnb_config
    calibrated.cvnb_config = dataclasses.replace(config, temperature=0.0)
    try:
        with pytest.raises(ValueError, match=r"positive finite number.*fit_temperature"):
            export_onnx(calibrated, tmp_path / "m.onnx", dynamo=False, parity=False)
    finally:
        calibrated.cvnb_config = config
    assert not (tmp_path / "m.onnx").exists()

"""export_onnx / load_onnx / parity_report on a learner trained on real digit scans."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from fastai.vision.augment import Resize, ResizeMethod
from fastai.vision.core import PILImage
from PIL import Image

from cvnb.export import OnnxClassifier, export_onnx, load_onnx, parity_report
from cvnb.train import make_learner


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    return export_onnx(trained, tmp_path_factory.mktemp("export") / "model.onnx", dynamo=False)


def _metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def _learner_proba(learn, paths: list) -> np.ndarray:
    dl = learn.dls.test_dl([str(p) for p in paths])
    with learn.no_bar():
        proba, _ = learn.get_preds(dl=dl)
    return proba.numpy()


def test_file_is_valid_onnx_with_the_config_recorded(trained, exported):
    path = exported.path
    assert path.is_file() and exported.size_bytes == path.stat().st_size
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert exported.opset == 18
    assert any(o.domain in ("", "ai.onnx") and o.version == 18 for o in proto.opset_import)
    config = json.loads(_metadata(path)["cvnb_config"])
    assert config == json.loads(json.dumps(trained.cvnb_config.to_dict()))
    assert config["classes"] == [str(d) for d in range(10)]
    assert config["img_size"] == 32 and config["mean"] == [0.5, 0.5, 0.5]
    (inp,) = proto.graph.input
    (out,) = proto.graph.output
    assert inp.name == "image" and out.name == "logits"
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert isinstance(in_dims[0], str) and in_dims[1:] == [3, 32, 32]
    out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert isinstance(out_dims[0], str) and out_dims[1] == 10
    assert not list(path.parent.glob(".model-*")), "no temporary file is left"


def test_parity_on_the_validation_set(trained, exported):
    report = exported.parity
    assert report is not None
    assert report.n_images == 200
    assert report.top1_agreement == 1.0
    assert report.max_abs_diff <= 1e-3
    assert report.ok and report.to_dict()["ok"] is True
    capped = parity_report(trained, exported.path, max_images=45)
    assert capped.n_images == 45 and capped.ok


def test_batch_size_is_dynamic(exported):
    session = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    x = rng.random((7, 3, 32, 32), dtype=np.float32)
    (seven,) = session.run(["logits"], {"image": x})
    (one,) = session.run(["logits"], {"image": x[3:4]})
    assert seven.shape == (7, 10) and one.shape == (1, 10)
    np.testing.assert_allclose(one[0], seven[3], atol=1e-5)


def test_runtime_predictions_equal_the_learners(trained, exported, digits_subset):
    paths = list(digits_subset.loc[digits_subset["split"] == "valid", "path"])[::5]
    clf = load_onnx(exported.path)
    assert isinstance(clf, OnnxClassifier) and clf.classes == list(trained.dls.vocab)
    expected = _learner_proba(trained, paths)
    np.testing.assert_allclose(clf.predict_proba(paths), expected, atol=1e-4)
    table = clf.predict(paths)
    assert list(table["label"]) == [trained.dls.vocab[i] for i in expected.argmax(1)]
    np.testing.assert_allclose(table["prob"], expected.max(1), atol=1e-4)
    with Image.open(paths[0]) as im:  # PIL input goes the same way as a path
        np.testing.assert_allclose(clf.predict_proba([im]), expected[:1], atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "policy", "fill"),
    [
        ({"resize": "squish"}, "squish", 0),
        ({"resize": "crop"}, "crop", 0),
        ({"resize": "pad"}, "letterbox", 0),
        ({"resize": "letterbox", "fill": (200, 30, 90)}, "letterbox", (200, 30, 90)),
        # Deterministic normalization steps (grey, autocontrast, CLAHE) travel too.
        ({"augment": "grayscale_scan", "fill": 255}, "letterbox", 255),
    ],
    ids=["squish", "crop", "pad", "letterbox-fill", "grayscale-scan"],
)
def test_runtime_resizes_photos_as_validation_does(
    digits_subset, photos, kwargs, policy, fill, tmp_path
):
    learn = make_learner(digits_subset, img_size=32, bs=32, **kwargs)
    result = export_onnx(learn, tmp_path / "m.onnx", dynamo=False, parity=False)
    assert result.parity is None
    clf = load_onnx(result.path)
    assert clf.config["resize"] == kwargs.get("resize", policy)
    assert clf.config["policy"] == policy
    assert clf.config["fill"] == (list(fill) if isinstance(fill, tuple) else fill)
    assert clf.config["pipeline"]["valid"] == learn.cvnb_pipeline.to_dict()["valid"]
    sizes = []
    for p in photos:
        with Image.open(p) as im:
            sizes.append(im.size)
    assert any(w != h for w, h in sizes), "the photos should not be square"
    # The pixels the exported model gets are the ones validation feeds the learner.
    xb = learn.dls.test_dl([str(p) for p in photos]).one_batch()[0]
    x01 = (xb.as_subclass(torch.Tensor) * 0.5 + 0.5).numpy()
    np.testing.assert_allclose(clf.preprocess(photos), x01, atol=1e-6)
    if policy == "letterbox":  # the padding is there, in the chosen colour
        corner = clf.preprocess(photos)[:, :, 0, 0] * 255
        wide = [i for i, (w, h) in enumerate(sizes) if w > h]
        rgb = fill if isinstance(fill, tuple) else (fill,) * 3
        np.testing.assert_allclose(corner[wide], np.tile(rgb, (len(wide), 1)), atol=0.5)
    np.testing.assert_allclose(clf.predict_proba(photos), _learner_proba(learn, photos), atol=1e-4)


def test_files_without_a_recorded_pipeline_resize_with_fastai(trained, exported, tmp_path):
    """A file exported before pipelines were recorded keeps working (fastai's Resize)."""
    proto = onnx.load(exported.path)
    config = json.loads(_metadata(exported.path)["cvnb_config"])
    old = {k: v for k, v in config.items() if k not in ("policy", "fill", "pipeline")}
    onnx.helper.set_model_props(proto, {"cvnb_config": json.dumps(old | {"resize": "pad"})})
    path = tmp_path / "old.onnx"
    onnx.save(proto, path)
    clf = load_onnx(path)
    assert "pipeline" not in clf.config
    wide = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 40, 3), np.uint8))
    resized = Resize(32, method=ResizeMethod.Pad)(PILImage.create(wide), split_idx=1)
    expected = np.asarray(resized, np.float32).transpose(2, 0, 1) / 255
    np.testing.assert_array_equal(clf.preprocess([wide])[0], expected)
    assert clf.predict_proba([wide]).shape == (1, 10)


def test_export_replaces_an_existing_file_only_on_success(trained, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old junk, not onnx")
    junk = path.read_bytes()

    with pytest.raises(ValueError, match="make_learner"):
        export_onnx(object(), path, dynamo=False)
    assert path.read_bytes() == junk

    # A failure inside torch's exporter, after the temporary file was made.
    warnings.filterwarnings("ignore", message="Exporting to ONNX opset version 99")
    with pytest.raises(Exception, match="opset"):
        export_onnx(trained, path, dynamo=False, opset=99, parity=False)
    assert path.read_bytes() == junk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]

    export_onnx(trained, path, dynamo=False, parity=False)
    assert path.read_bytes() != junk
    assert "cvnb_config" in _metadata(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


@pytest.mark.parametrize("parity", [False, True])
def test_export_leaves_the_learners_model_in_training_mode(digits_subset, tmp_path, parity):
    learn = make_learner(digits_subset, img_size=32, bs=32)
    learn.model.train()
    export_onnx(learn, tmp_path / "m.onnx", dynamo=False, parity=parity, max_images=8)
    assert learn.model.training


def test_pil_input_is_oriented_like_a_path(exported, photos, tmp_path):
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    with Image.open(photos[0]) as im:
        assert im.width != im.height
        im.convert("RGB").save(rotated, exif=exif.tobytes())
    clf = load_onnx(exported.path)
    from_path = clf.predict_proba([rotated])
    with Image.open(rotated) as im:
        from_pil = clf.predict_proba([im])
    np.testing.assert_allclose(from_pil, from_path, atol=1e-4)


def test_load_onnx_refuses_files_not_written_by_cvnb(tmp_path):
    node = onnx.helper.make_node("Identity", ["image"], ["logits"])
    graph = onnx.helper.make_graph(
        [node],
        "plain",
        [onnx.helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 3])],
        [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 3])],
    )
    plain = tmp_path / "plain.onnx"
    onnx.save(onnx.helper.make_model(graph), plain)
    ort.InferenceSession(str(plain))  # a valid model, just not a cvnb one
    with pytest.raises(ValueError, match="cvnb_config"):
        load_onnx(plain)
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        load_onnx(tmp_path / "missing.onnx")


@pytest.mark.slow
def test_default_dynamo_export(trained, tmp_path):
    result = export_onnx(trained, tmp_path / "dynamo.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dynamo.onnx"]  # weights inline
    onnx.checker.check_model(onnx.load(result.path), full_check=True)
    assert json.loads(_metadata(result.path)["cvnb_config"])["classes"] == list(trained.dls.vocab)
    assert result.parity is not None and result.parity.ok, result.parity
    assert result.parity.n_images == 200
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        x = torch.rand(n, 3, 32, 32).numpy()
        assert session.run(["logits"], {"image": x})[0].shape == (n, 10)


def test_devices_follow_the_one_rule(trained, exported):
    """The parity check and load_onnx follow cvnb.device: the learner's device, else ask."""
    from cvnb.device import pick_device

    assert pick_device(learn=trained).type == "cpu"  # the learner's model is on the CPU
    assert load_onnx(exported.path, device="cpu").session.get_providers() == [
        "CPUExecutionProvider"
    ]
    assert parity_report(trained, exported.path, max_images=8, device="cpu").ok
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            parity_report(trained, exported.path, max_images=8, device="cuda")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ValueError, match="onnxruntime-gpu"):
            load_onnx(exported.path, device="cuda")

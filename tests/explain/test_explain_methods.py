"""cvnb.explain: Grad-CAM, SHAP and LIME maps on a real trained learner (the digits model)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cvnb.data import ImageReadError
from cvnb.explain import METHODS, Explanation, Explanations, explain, explain_one
from cvnb.explain._gradcam import cam_layer
from cvnb.explain._model import Normalized

BUDGETS = {"shap": 48, "lime": 48}  # the digits model is 32 px: small budgets suffice


@pytest.fixture(scope="module")
def valid(digits_subset):
    return digits_subset[digits_subset.split == "valid"].reset_index(drop=True)


@pytest.fixture(scope="module")
def maps(trained_digits, valid) -> Explanations:
    return explain(trained_digits, valid.path[0], budgets=BUDGETS, runtime="torch", progress=False)


def maps_of(learn, path) -> np.ndarray:
    return explain_one(learn, path, "gradcam", runtime="torch").heatmap


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    )


def test_every_method_gives_a_map_of_the_input_in_0_1_with_its_cost(maps, trained_digits):
    assert list(maps) == list(METHODS)
    assert maps.image.size == (32, 32)  # the model's input, as it saw it
    classes = [str(c) for c in trained_digits.dls.vocab]
    assert set(maps.probs) == set(classes)
    assert sum(maps.probs.values()) == pytest.approx(1.0, abs=1e-4)
    assert maps.target == max(maps.probs, key=maps.probs.get)  # default: the prediction
    for method, e in maps.items():
        assert isinstance(e, Explanation) and e.method == method and e.target == maps.target
        assert e.heatmap.shape == (32, 32) and e.heatmap.dtype == np.float32
        assert e.heatmap.min() >= 0.0 and e.heatmap.max() <= 1.0 and e.heatmap.max() > 0
        assert e.seconds > 0 and e.n_model_calls >= 1
        assert e.runtime == "torch"
        assert 0.0 <= e.deletion_auc <= 1.0 and 0.0 <= e.insertion_auc <= 1.0
        assert set(e.random_baseline) == {"deletion", "insertion"}
        assert all(0.0 <= v <= 1.0 for v in e.random_baseline.values())
        overlay = e.overlay(0.4)
        assert overlay.size == (32, 32) and overlay.mode == "RGB"
    assert maps["gradcam"].n_model_calls == 1
    assert maps["lime"].n_model_calls == BUDGETS["lime"]
    assert 1 < maps["shap"].n_model_calls <= BUDGETS["shap"] + 2
    assert maps["gradcam"].info["group"] == "stage3"  # 4×4 cells: the deepest that localises
    table = maps.table
    assert list(table.method) == list(METHODS)
    assert {"seconds", "n_model_calls", "deletion_auc", "random_deletion_auc"} <= set(table)
    assert len(maps.plot().axes) == 2 + len(METHODS)


def test_original_is_the_file_untouched(maps, valid):
    from cvnb.data import read_image

    original = read_image(valid.path[0])
    assert maps.original.size == original.size
    assert np.array_equal(np.asarray(maps.original), np.asarray(original))


def test_a_path_a_pil_image_and_a_table_row_give_the_same_map(trained_digits, valid):
    path = valid.path[3]
    heat = [
        explain_one(trained_digits, x, "gradcam", runtime="torch").heatmap
        for x in (path, Image.open(path), valid.iloc[3])
    ]
    assert np.allclose(heat[0], heat[1]) and np.allclose(heat[0], heat[2])


def test_target_is_a_class_name_and_a_wrong_one_names_the_classes(trained_digits, valid):
    classes = [str(c) for c in trained_digits.dls.vocab]
    e = explain_one(trained_digits, valid.path[0], "gradcam", target=classes[1], runtime="torch")
    assert e.target == classes[1]
    quick = explain_one(trained_digits, valid.path[0], "gradcam", runtime="torch", score=False)
    assert quick.deletion_auc is None and quick.random_baseline == {}  # shown first, scored later
    assert np.allclose(quick.heatmap, maps_of(trained_digits, valid.path[0]))
    with pytest.raises(ValueError, match=r"not a class.*\['0', '1'"):
        explain_one(trained_digits, valid.path[0], "gradcam", target="cat")
    with pytest.raises(ValueError, match="unknown method"):
        explain(trained_digits, valid.path[0], methods=("gradcam", "occlusion"))


def test_an_unreadable_image_gets_the_readers_error(trained_digits, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(ImageReadError, match="not an image file"):
        explain_one(trained_digits, bad, "gradcam")
    with pytest.raises(ImageReadError, match="file not found"):
        explain(trained_digits, tmp_path / "missing.jpg", progress=False)


def test_onnxruntime_path_exports_to_the_cache_never_beside_the_images(
    trained_digits, valid, digits_root, tmp_path, monkeypatch
):
    monkeypatch.setenv("CVNB_CACHE", str(tmp_path / "cache"))
    before = _listing(digits_root)
    e = explain_one(trained_digits, valid.path[5], "lime", budget=32, runtime="onnxruntime")
    assert e.runtime == "onnxruntime" and e.n_model_calls == 32
    assert e.info["scoring_runtime"] == "onnxruntime"
    cached = list((tmp_path / "cache" / "explain").glob("*.onnx"))
    assert len(cached) == 1
    torch_map = explain_one(trained_digits, valid.path[5], "lime", budget=32, runtime="torch")
    assert np.allclose(e.heatmap, torch_map.heatmap, atol=1e-3)  # same model, same samples
    explain(trained_digits, valid.iloc[6], budgets=BUDGETS, progress=False)  # auto
    assert _listing(digits_root) == before
    assert not any(p.suffix == ".onnx" for p in Path(os.path.dirname(valid.path[5])).iterdir())


def test_explaining_leaves_the_learner_as_it_was(trained_digits, valid):
    model = trained_digits.model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    flags = [(p.requires_grad, p.grad) for p in model.parameters()]
    torch.set_num_threads(2)  # Grad-CAM runs on one CPU thread and gives the two back
    try:
        explain_one(trained_digits, valid.path[1], "gradcam", runtime="torch", score=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert [m.training for m in model.modules()] == modes
    assert [(p.requires_grad, p.grad) for p in model.parameters()] == flags


def test_gradcam_library_matches_hand_written_hooks_on_inplace_relu6(trained_digits, valid):
    """pytorch-grad-cam on timm's Lite0 (ReLU6 in place inside its BatchNormAct layers)
    agrees with Grad-CAM computed by hand with torch.autograd.grad."""
    learn = trained_digits
    e = explain_one(learn, valid.path[2], "gradcam", runtime="torch")
    model = learn.model
    assert any(getattr(m, "inplace", False) for m in model.modules())
    layer = cam_layer(model, 32)
    arr = np.asarray(e.image, dtype=np.float32) / 255.0
    x = torch.from_numpy(arr.transpose(2, 0, 1).copy())[None].requires_grad_(True)
    store = {}
    hook = model.get_submodule(layer.module).register_forward_hook(
        lambda _m, _i, out: store.__setitem__("a", out)
    )
    cfg = learn.cvnb_config
    was = model.training
    model.eval()
    try:
        out = Normalized(model, cfg.mean, cfg.std)(x)
        index = [str(c) for c in learn.dls.vocab].index(e.target)
        (grad,) = torch.autograd.grad(out[0, index], store["a"])
    finally:
        hook.remove()
        model.train(was)
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * store["a"]).sum(1))[0].detach()
    import cv2

    cam = cv2.resize(cam.numpy(), (32, 32))
    cam = (cam - cam.min()) / (cam.max() - cam.min() + 1e-7)
    assert np.abs(cam - e.heatmap).max() < 1e-4


def test_a_model_without_a_convolutional_stage_is_told_to_use_shap_or_lime():
    import timm

    vit = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=3, img_size=32, patch_size=8
    )
    with pytest.raises(ValueError, match="Grad-CAM needs a convolutional layer; use shap/lime"):
        cam_layer(vit, 32)

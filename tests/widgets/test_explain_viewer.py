"""ExplainViewer driven through its traits (no browser), on the session's trained digits model."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import torch
import traitlets
from PIL import Image

from cvnb.widgets import ExplainViewer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BUDGETS = {"shap": 40, "lime": 40}  # tiny: the tests check the plumbing, not the maps
WAIT_S = 120


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def losses(trained_digits):
    """The validation top losses: the report's table the viewer picks from by default."""
    from cvnb.evaluate import evaluation_report

    return evaluation_report(trained_digits, bootstrap=0).top_losses


@pytest.fixture(scope="module")
def viewer(trained_digits, losses):
    """A viewer whose first grid image was clicked, every map finished."""
    w = ExplainViewer(trained_digits, losses, budgets=BUDGETS)
    w.action = {"kind": "pick", "index": 0}  # what a click on a thumbnail sends
    assert w.wait(WAIT_S), "the background methods did not finish"
    return w


def _png(data: bytes) -> Image.Image:
    assert data.startswith(PNG_MAGIC)
    return Image.open(io.BytesIO(data))


def test_grid_shows_the_mistakes_worst_first(viewer, losses):
    w = viewer
    mistakes = losses[losses["label"] != losses["prediction"]]
    assert 0 < len(w.candidates) == len(w.thumbnails) == min(24, len(mistakes))
    assert all(c["label"] != c["prediction"] for c in w.candidates)
    shown = [c["loss"] for c in w.candidates]
    assert shown == sorted(shown, reverse=True)
    assert shown[0] == pytest.approx(float(mistakes["loss"].max()))
    assert all(t.startswith(PNG_MAGIC) for t in w.thumbnails)
    assert w.classes == [str(c) for c in viewer._learn.dls.vocab]


def test_a_pick_gives_three_maps_with_their_scores(viewer):
    w = viewer
    assert w.error == "" and w.action == {}
    assert w.selected == 0 and w.status == "done" and w.progress == 1.0
    assert [p["method"] for p in w.panels] == ["gradcam", "shap", "lime"]
    size = _png(w.image).size  # the model's input, 32 px
    assert size == (32, 32)
    for panel, heatmap in zip(w.panels, w.maps, strict=True):
        assert panel["status"] == "done", panel
        assert _png(heatmap).mode == "RGBA" and _png(heatmap).size == size
        assert panel["seconds"] > 0 and panel["n_model_calls"] >= 1
        for key in ("deletion_auc", "insertion_auc", "random_deletion", "random_insertion"):
            assert 0.0 <= panel[key] <= 1.0, (key, panel)
        assert panel["runtime"] in ("torch", "onnxruntime")
    # SHAP and LIME stay within their budgets (plus a few calls for the scores' own).
    calls = {p["method"]: p["n_model_calls"] for p in w.panels}
    assert calls["gradcam"] < calls["shap"] and calls["gradcam"] < calls["lime"]
    assert set(w.explanations) == {"gradcam", "shap", "lime"}
    picked = w.candidates[0]
    assert w.subject["path"] == picked["path"] and w.subject["label"] == picked["label"]
    assert w.subject["target"] == w.subject["prediction"] == picked["prediction"]
    assert w.subject["probs"][0][0] == picked["prediction"]
    assert w.original.startswith(PNG_MAGIC)


def test_target_change_explains_that_class(trained_digits, losses):
    w = ExplainViewer(
        trained_digits, losses, methods=["gradcam"], budgets=BUDGETS, background=False
    )
    w.pick(1)
    before = w.explanations["gradcam"].heatmap.copy()
    other = next(c for c in w.classes if c != w.subject["prediction"])
    w.target = other  # the dropdown
    assert w.error == "" and w.status == "done"
    assert w.subject["target"] == other and w.explanations["gradcam"].target == other
    assert not np.allclose(w.explanations["gradcam"].heatmap, before)
    with pytest.raises(traitlets.TraitError, match=r"not a class.*'0', '1'"):
        w.target = "cat"
    assert w.target == other
    w.methods = ["lime", "gradcam"]  # the panels follow, and the image is explained again
    assert [p["method"] for p in w.panels] == ["lime", "gradcam"]
    assert [p["status"] for p in w.panels] == ["done", "done"] and len(w.maps) == 2
    assert w.panels[0]["n_model_calls"] <= BUDGETS["lime"] + 1


def test_slow_methods_run_in_the_background(trained_digits, losses):
    w = ExplainViewer(trained_digits, losses, budgets=BUDGETS)
    seen = []  # (time, status of each panel) at every panels change, from either thread
    w.observe(
        lambda c: seen.append((time.perf_counter(), [p["status"] for p in c["new"]])), "panels"
    )
    w.pick(2)
    returned = time.perf_counter()
    # The Grad-CAM map is there when pick returns, its scores to come; SHAP and LIME finish
    # later, in the background.
    assert w.panels[0]["status"] == "scoring" and w.maps[0].startswith(PNG_MAGIC)
    assert w.panels[0]["deletion_auc"] is None and w.subject["target"]
    assert w.wait(WAIT_S)
    assert w.status == "done" and w.progress == 1.0
    done_at = [next(t for t, s in seen if s[i] == "done") for i in range(3)]
    assert returned < min(done_at)
    assert any(s[1] == "running" for _, s in seen)  # the panel said so meanwhile


def test_an_error_in_the_background_reaches_the_error_trait(trained_digits, losses):
    w = ExplainViewer(trained_digits, losses, runtime="tpu", budgets=BUDGETS)
    w.pick(0)  # the image reads and the Grad-CAM map draws; scoring and LIME need a runtime
    assert w.maps[0].startswith(PNG_MAGIC)
    assert w.wait(WAIT_S)
    assert w.status == "failed" and [p["status"] for p in w.panels] == ["failed"] * 3
    assert w.error.startswith("lime: ValueError: runtime must be one of")
    assert "'tpu'" in w.panels[1]["message"]


def test_an_unreadable_image_fails_every_panel(trained_digits, losses, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    w = ExplainViewer(trained_digits, losses, budgets=BUDGETS)
    w.show(broken)
    assert w.wait(WAIT_S)
    assert w.status == "failed" and {p["status"] for p in w.panels} == {"failed"}
    assert "broken.png" in w.error and w.image == b""
    assert list(tmp_path.iterdir()) == [broken]  # nothing written beside the image


def test_show_an_image_passed_in(trained_digits, losses):
    path = losses["path"].iloc[-1]
    image = Image.open(path)
    w = ExplainViewer(trained_digits, image=image, methods=["gradcam"], budgets=None)
    assert w.budgets == {}  # None: cvnb.explain's default budgets, as in explain()
    assert w.candidates == [] and w.thumbnails == []  # no table needed for one image
    assert w.wait(WAIT_S)
    assert w.selected == -1 and w.status == "done" and w.subject["path"] == ""
    assert w.maps[0].startswith(PNG_MAGIC)


def test_sanity_badge_on_demand(viewer):
    w = viewer
    assert w.sanity == {} and w.sanity_status == "not run"
    w.action = {"kind": "sanity_check"}  # the button
    assert w.error == "" and w.sanity_status == "done"
    # The bar of the issue: Grad-CAM on a trained model is model-sensitive.
    assert w.sanity["model_sensitive"] == {"gradcam": True}
    assert {"method", "randomised", "spearman"} <= set(w.sanity["table"][0])


def test_source_and_bad_requests(trained_digits, losses):
    w = ExplainViewer(trained_digits, losses, methods=["gradcam"], max_candidates=5)
    n_mistakes = len(w.candidates)
    w.source = "top_losses"
    assert len(w.candidates) == 5 and w.selected == -1
    assert [c["loss"] for c in w.candidates] == sorted(losses["loss"], reverse=True)[:5]
    assert n_mistakes == 5
    w.action = {"kind": "explain"}  # nothing picked yet
    assert "no image to explain" in w.error and w.action == {}
    w.action = {"kind": "delete"}
    assert "'delete' is not one of" in w.error
    with pytest.raises(traitlets.TraitError, match="opacity"):
        w.opacity = 1.5
    with pytest.raises(traitlets.TraitError, match="distinct methods"):
        w.methods = ["gradcam", "occlusion"]
    with pytest.raises(traitlets.TraitError, match="below 5"):
        w.selected = 7

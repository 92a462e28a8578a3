"""ExplainViewer in a real JupyterLab + chromium: a click on a mistake brings three maps."""

from __future__ import annotations

import pytest
from lab_driver import run_cell_in_lab, run_notebook_in_lab, write_notebook

pytestmark = pytest.mark.ui

NOTEBOOK = "explain_ui.ipynb"
SCREENSHOT = "/tmp/cvnb_explain.png"

# A tiny real learner (40 training digits at 32 px, no training: its mistakes are many),
# and its validation top losses, which the viewer's grid shows.
MAKE_LEARNER = """\
import torch
from cvnb.data import load_images
from cvnb.datasets import digits
from cvnb.evaluate import evaluation_report
from cvnb.train import make_learner

torch.set_num_threads(1)
df = load_images(digits())
df = df[df.groupby(["split", "label"]).cumcount() < 4].reset_index(drop=True)
learn = make_learner(df, img_size=32, bs=8)
losses = evaluation_report(learn).top_losses
"""

SHOW_VIEWER = """\
from cvnb.widgets import ExplainViewer

viewer = ExplainViewer(learn, losses, budgets={"shap": 40, "lime": 40}, max_candidates=8)
viewer
"""

ALL_MAPS = """() => {
  const panels = [...document.querySelectorAll(".cvnb-explain .cvnb-xp-panel")];
  return panels.length === 3 && panels.every((p) => {
    const map = p.querySelector("img.cvnb-xp-map");
    return p.dataset.status === "done" && map && map.complete && map.naturalWidth > 0;
  });
}"""


def test_pick_an_image_and_see_three_maps_arrive(lab, page):
    write_notebook(lab.root_dir / NOTEBOOK, "ExplainViewer UI test", MAKE_LEARNER, SHOW_VIEWER)
    run_notebook_in_lab(page, lab.base_url, lab.token, NOTEBOOK, timeout_s=180)

    viewer = page.locator(".cvnb-explain").first
    viewer.wait_for(timeout=30_000)
    thumbs = viewer.locator(".cvnb-xp-thumb")
    assert thumbs.count() == 8
    assert viewer.locator(".cvnb-xp-panel").count() == 0  # nothing picked yet

    thumbs.nth(1).click()
    # Grad-CAM arrives first, then SHAP and LIME fill in from the background thread.
    page.wait_for_function(
        "() => document.querySelector(\".cvnb-xp-panel[data-method='gradcam']\")"
        "?.dataset.status === 'done'",
        timeout=60_000,
    )
    page.wait_for_function(ALL_MAPS, timeout=90_000)
    assert thumbs.nth(1).get_attribute("aria-selected") == "true"
    assert viewer.get_attribute("data-status") == "done"
    for method in ("gradcam", "shap", "lime"):
        panel = viewer.locator(f".cvnb-xp-panel[data-method='{method}']")
        assert "model call" in panel.locator(".cvnb-xp-cost").inner_text()
        assert "random" in panel.locator(".cvnb-xp-metric[data-metric='deletion']").inner_text()
    assert viewer.locator("img.cvnb-xp-map").first.evaluate("(i) => i.src").startswith("blob:")

    # The shared opacity slider reaches every map, and the kernel's trait.
    viewer.locator("input.cvnb-xp-opacity").fill("0.8")
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('img.cvnb-xp-map')).opacity === '0.8'",
        timeout=10_000,
    )

    # "Model-sensitive?" runs the randomisation test on demand and shows its verdict.
    viewer.locator("button.cvnb-xp-sanity").click()
    page.wait_for_function(
        "() => document.querySelector('.cvnb-explain').dataset.sanity === 'done'",
        timeout=60_000,
    )
    assert "model-sensitive" in viewer.locator(".cvnb-xp-badge").inner_text()
    viewer.screenshot(path=SCREENSHOT)

    out = run_cell_in_lab(
        page,
        NOTEBOOK,
        "print(viewer.selected, viewer.opacity, viewer.status, viewer.sanity_status,"
        " sorted(viewer.explanations), repr(viewer.error))",
    )
    expected = ["1", "0.8", "done", "done", "['gradcam',", "'lime',", "'shap']", "''"]
    assert out.split() == expected, out

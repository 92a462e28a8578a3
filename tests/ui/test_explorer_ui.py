"""AugmentationExplorer in a real JupyterLab + chromium: moving a control changes the preview."""

from __future__ import annotations

import pytest
from lab_driver import run_cell_in_lab, run_notebook_in_lab, write_notebook

pytestmark = pytest.mark.ui

NOTEBOOK = "explorer_ui.ipynb"
SCREENSHOT = "/tmp/cvnb_explorer.png"

MAKE_IMAGES = """\
import numpy as np
from PIL import Image, ImageDraw

images = []
for i, colour in enumerate(["#d33", "#36c"]):
    image = Image.new("RGB", (160 + 40 * i, 120), "#f4f1ea")
    ImageDraw.Draw(image).rectangle((10, 10, 70, 60), fill=colour)  # off-centre: flips show
    images.append(image)
"""

SHOW = """\
from cvnb.widgets import explore_augmentations

w = explore_augmentations(images, None, draws=2, size=128, thumb_size=110,
                          transforms=[{"name": "HorizontalFlip", "p": 0.0}])
w
"""

# SHA-256 of each preview's bytes, read back from its Blob URL.
PREVIEW_HASHES = """async () => {
  const imgs = [...document.querySelectorAll(".cvnb-ex-draw img")];
  return Promise.all(imgs.map(async (img) => {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }));
}"""

PREVIEWS_READY = """(before) => {
  const imgs = [...document.querySelectorAll(".cvnb-ex-draw img")];
  if (imgs.length !== 4 || !imgs.every((i) => i.complete && i.naturalWidth > 0)) return false;
  return before === null || imgs.some((img, n) => img.src !== before[n]);
}"""


def _sources(page) -> list[str]:
    return page.locator(".cvnb-ex-draw img").evaluate_all("(a) => a.map((i) => i.src)")


def test_moving_a_control_changes_the_preview(lab, page):
    write_notebook(lab.root_dir / NOTEBOOK, "AugmentationExplorer UI test", MAKE_IMAGES, SHOW)
    run_notebook_in_lab(page, lab.base_url, lab.token, NOTEBOOK, timeout_s=180)

    widget = page.locator(".cvnb-explorer").first
    widget.wait_for(timeout=30_000)
    page.wait_for_function(PREVIEWS_READY, arg=None, timeout=60_000)
    assert all(src.startswith("blob:") for src in _sources(page))
    assert widget.locator(".cvnb-ex-original img").count() == 2
    card = widget.locator(".cvnb-ex-step").first
    assert card.get_attribute("data-name") == "HorizontalFlip"
    captions = widget.locator(".cvnb-ex-draw figcaption").all_inner_texts()
    assert captions == ["(nothing fired)"] * 4
    before_src, before = _sources(page), page.evaluate(PREVIEW_HASHES)

    # Move the flip's probability slider to the end with the keyboard, as a user would.
    slider = card.locator(".cvnb-ex-p input[type=range]")
    slider.focus()
    page.keyboard.press("End")
    page.wait_for_function(PREVIEWS_READY, arg=before_src, timeout=30_000)
    after = page.evaluate(PREVIEW_HASHES)
    assert all(a != b for a, b in zip(after, before, strict=True))
    assert card.locator(".cvnb-ex-p input[type=number]").input_value() == "1"
    page.wait_for_function(
        """() => [...document.querySelectorAll(".cvnb-ex-draw figcaption")]
                 .every((c) => c.textContent === "HorizontalFlip")"""
    )
    # The kernel has the new setting and recorded that every draw flipped.
    out = run_cell_in_lab(
        page,
        NOTEBOOK,
        "print(w.transforms[0]['p'], all('HorizontalFlip' in a['transforms'] for a in w.applied))",
    )
    assert out.split() == ["1", "True"]

    # A bad value set from code shows albumentations' message in the widget's error area.
    run_cell_in_lab(
        page,
        NOTEBOOK,
        "w.transforms = w.transforms + [{'name': 'GaussNoise', 'params': {'std_range': [0.5, 0.1]}}]",
    )
    error = widget.locator(".cvnb-error")
    error.wait_for(state="visible", timeout=20_000)
    assert "less than the second" in error.inner_text()
    page.wait_for_function(
        "() => document.querySelectorAll('.cvnb-ex-step.cvnb-ex-bad').length === 1"
    )
    assert widget.locator(".cvnb-ex-step").nth(1).get_attribute("class").endswith("cvnb-ex-bad")
    widget.scroll_into_view_if_needed()
    widget.screenshot(path=SCREENSHOT)

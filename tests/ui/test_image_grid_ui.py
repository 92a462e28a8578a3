"""ImageGrid in a real JupyterLab + chromium: thumbnails render, clicks select, Python sees it."""

from __future__ import annotations

import pytest
from lab_driver import run_cell_in_lab, run_notebook_in_lab, write_notebook

pytestmark = pytest.mark.ui

NOTEBOOK = "image_grid_ui.ipynb"
SCREENSHOT = "/tmp/cvnb_grid.png"

MAKE_IMAGES = """\
import tempfile
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

folder = Path(tempfile.mkdtemp(prefix="cvnb_ui_"))
rows = []
for i, (label, colour) in enumerate([("red", "#d33"), ("green", "#3a3"), ("blue", "#36c"),
                                     ("red", "#e55"), ("green", "#5c5"), ("blue", "#58e")]):
    image = Image.new("RGB", (160 + 20 * i, 120), "#f4f1ea")
    ImageDraw.Draw(image).ellipse((20, 10, 120 + 20 * i, 110), fill=colour, outline="#222")
    image.save(folder / f"{label}_{i}.png")
    rows.append({"path": str(folder / f"{label}_{i}.png"), "label": label})
df = pd.DataFrame(rows).assign(prediction=["red", "green", "red", "red", "blue", "blue"])
"""

SHOW_GRID = """\
from cvnb.widgets import show_images

grid = show_images(df, columns=3, thumb_size=110)
grid
"""


def _wait_for_thumbnails(page, expected: int | None = None, timeout_ms: int = 60_000) -> int:
    """Wait until every grid thumbnail has decoded; return how many there are."""
    page.wait_for_function(
        """(expected) => {
          const imgs = [...document.querySelectorAll(".cvnb-grid-item img")];
          if (!imgs.length || (expected !== null && imgs.length !== expected)) return false;
          return imgs.every((img) => img.complete && img.naturalWidth > 0);
        }""",
        arg=expected,
        timeout=timeout_ms,
    )
    return page.locator(".cvnb-grid-item img").count()


def test_image_grid_in_jupyterlab(lab, page):
    write_notebook(lab.root_dir / NOTEBOOK, "ImageGrid UI test", MAKE_IMAGES, SHOW_GRID)
    run_notebook_in_lab(page, lab.base_url, lab.token, NOTEBOOK, timeout_s=180)

    assert _wait_for_thumbnails(page, expected=6) == 6
    items = page.locator(".cvnb-grid-item")
    # Images arrive as Blob URLs made from binary buffers, not as inline base64.
    sources = page.locator(".cvnb-grid-item img").evaluate_all("(imgs) => imgs.map((i) => i.src)")
    assert all(src.startswith("blob:") for src in sources)
    assert items.nth(0).get_attribute("title").endswith("red_0.png")
    # Labels, predictions, and right/wrong marks (index 2 and 4 are wrong).
    assert "pred: red" in items.nth(2).inner_text()
    wrong = page.locator(".cvnb-grid-item.cvnb-wrong")
    assert wrong.count() == 2
    assert page.locator(".cvnb-grid-item.cvnb-right").count() == 4
    assert page.locator(".cvnb-error").is_hidden()

    # A click selects, in the page and in the kernel.
    items.nth(1).click()
    page.wait_for_selector(".cvnb-grid-item.selected")
    assert items.nth(1).get_attribute("aria-selected") == "true"
    assert run_cell_in_lab(page, NOTEBOOK, "print(grid.selected)").strip() == "[1]"

    # Keyboard: Space on a focused item toggles it too.
    items.nth(4).focus()
    page.keyboard.press("Space")
    page.wait_for_function(
        "() => document.querySelectorAll('.cvnb-grid-item.selected').length === 2"
    )
    assert run_cell_in_lab(page, NOTEBOOK, "print(grid.selected)").strip() == "[1, 4]"

    # Python drives the view: selection and the error area.
    run_cell_in_lab(page, NOTEBOOK, "grid.selected = [0]; grid.error = 'something to fix'")
    page.wait_for_function(
        """() => {
          const sel = [...document.querySelectorAll('.cvnb-grid-item.selected')];
          return sel.length === 1 && sel[0].dataset.index === '0';
        }"""
    )
    assert page.locator(".cvnb-error").inner_text() == "something to fix"
    run_cell_in_lab(page, NOTEBOOK, "grid.error = ''; grid.selected = [0, 2]")
    page.wait_for_function(
        "() => document.querySelectorAll('.cvnb-grid-item.selected').length === 2"
    )

    grid_widget = page.locator(".cvnb-image-grid").first
    grid_widget.scroll_into_view_if_needed()
    grid_widget.screenshot(path=SCREENSHOT)
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_timeout(500)  # let the theme's CSS variables apply
    grid_widget.screenshot(path=SCREENSHOT.replace(".png", "_dark.png"))
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Light'})"
    )

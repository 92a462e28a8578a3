"""The quickstart notebook, run cell by cell in a real JupyterLab + chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lab_driver import run_cell_in_lab, run_notebook_in_lab

pytestmark = [pytest.mark.ui, pytest.mark.slow]

QUICKSTART = Path(__file__).resolve().parents[2] / "notebooks" / "00_quickstart.ipynb"


def test_quickstart_runs_and_its_grid_selects(lab, page):
    # A copy in the lab's own root: the notebook must need nothing but the installed cvnb.
    folder = lab.root_dir / "quickstart"
    folder.mkdir(exist_ok=True)
    shutil.copy(QUICKSTART, folder / QUICKSTART.name)
    relpath = f"quickstart/{QUICKSTART.name}"

    run_notebook_in_lab(page, lab.base_url, lab.token, relpath, timeout_s=300)

    grid = page.locator(".cvnb-image-grid").first
    grid.wait_for(timeout=30_000)
    page.wait_for_function(
        """(grid) => {
          const imgs = [...grid.querySelectorAll(".cvnb-grid-item img")];
          return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 0);
        }""",
        arg=grid.element_handle(),
        timeout=60_000,
    )
    item = grid.locator(".cvnb-grid-item").first
    item.scroll_into_view_if_needed()
    item.click()
    page.wait_for_function(
        "(item) => item.classList.contains('selected')", arg=item.element_handle()
    )
    assert item.get_attribute("aria-selected") == "true"
    # The quickstart shows `grid = show_images(...)` and selects [2, 5] from code; the click
    # on the first thumbnail must reach the kernel and join that selection.
    assert run_cell_in_lab(page, relpath, "print(grid.selected)").strip() == "[0, 2, 5]"

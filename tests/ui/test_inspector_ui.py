"""DatasetInspectorWidget in a real JupyterLab + chromium: pressing x writes the journal."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from lab_driver import run_cell_in_lab, run_notebook_in_lab, write_notebook
from PIL import Image, ImageDraw

pytestmark = pytest.mark.ui

NOTEBOOK = "inspector_ui.ipynb"
SCREENSHOT = "/tmp/cvnb_inspector.png"

# The real scan, hashes and statistics only (embedder=False keeps it to a few seconds).
BUILD_REPORT = """\
from cvnb.data import load_images
from cvnb.quality import scan_quality

report = scan_quality(load_images(DATA), embedder=False, cache=False, progress=False)
"""

SHOW = """\
from cvnb.widgets import inspect_dataset

w = inspect_dataset(report, JOURNAL, thumb_size=80)
w
"""


def _make_images(folder: Path) -> None:
    """Seven small images in ImageFolder layout; twin_a/twin_b are byte-identical."""
    colours = {"circle": "#d33", "square": "#36c"}
    for i in range(2):
        for label, colour in colours.items():
            out = folder / "train" / label
            out.mkdir(parents=True, exist_ok=True)
            image = Image.new("RGB", (64 + 8 * i, 64), "#f4f1ea")
            draw = ImageDraw.Draw(image)
            shape = draw.ellipse if label == "circle" else draw.rectangle
            shape((10, 10, 50 + 4 * i, 54), fill=colour)
            image.save(out / f"{label}_{i}.png")
    twin = folder / "train" / "circle" / "twin_a.png"
    Image.new("RGB", (64, 64), "#2a2").save(twin)
    (twin.parent / "twin_b.png").write_bytes(twin.read_bytes())
    Image.new("RGB", (64, 64), "#111").save(folder / "train" / "square" / "dark.png")


def _journal_lines(path: Path, expected: int, timeout_s: float = 20) -> list[dict]:
    """Wait until the journal file holds ``expected`` entries; return them."""
    deadline = time.monotonic() + timeout_s
    lines: list[dict] = []
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
            if len(lines) == expected:
                return lines
        time.sleep(0.2)
    raise AssertionError(f"journal {path} has {len(lines)} entries, expected {expected}: {lines}")


def test_inspector_exclude_with_the_keyboard_writes_the_journal(lab, page):
    data = lab.root_dir / "inspector_data"
    journal = lab.root_dir / "inspector_run" / "journal.jsonl"
    _make_images(data)
    paths = f"DATA = {str(data)!r}\nJOURNAL = {str(journal)!r}"
    write_notebook(lab.root_dir / NOTEBOOK, "Inspector UI test", paths, BUILD_REPORT, SHOW)
    run_notebook_in_lab(page, lab.base_url, lab.token, NOTEBOOK, timeout_s=180)

    widget = page.locator(".cvnb-inspector").first
    widget.wait_for(timeout=30_000)
    page.wait_for_function(
        """() => {
          const imgs = [...document.querySelectorAll(".cvnb-insp-item img")];
          return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        timeout=60_000,
    )
    widget.screenshot(path=SCREENSHOT.replace(".png", "_any.png"))
    shown = widget.locator(".cvnb-insp-item").count()
    assert f"shown {shown}" in widget.locator(".cvnb-insp-counts").inner_text()
    sources = widget.locator(".cvnb-insp-item img").evaluate_all("(a) => a.map((i) => i.src)")
    assert all(src.startswith("blob:") for src in sources)

    # Filter by exact duplicates: the byte-identical twins, side by side in one group box.
    widget.locator("select.cvnb-insp-issue-filter").select_option("exact_duplicate")
    group = widget.locator(".cvnb-insp-group")
    group.wait_for(timeout=20_000)
    assert group.locator(".cvnb-insp-item").count() == 2
    assert widget.locator(".cvnb-insp-item").count() == 2

    # Click the first twin to focus it, then press x: the journal on disk gets the line.
    card = group.locator(".cvnb-insp-item").first
    card.click()
    target = card.get_attribute("data-path")
    assert Path(target).name.startswith("twin_")
    page.keyboard.press("x")
    [line] = _journal_lines(journal, 1)
    assert line["path"] == target
    assert (line["decision"], line["issue"], line["score"], line["reason"]) == (
        "exclude",
        "exact_duplicate",
        0.0,
        "inspector",
    )
    page.wait_for_function("(c) => c.dataset.decision === 'exclude'", arg=card.element_handle())
    assert card.locator(".cvnb-insp-badge").inner_text() == "excluded"
    assert "excluded 1" in widget.locator(".cvnb-insp-counts").inner_text()
    # x moved the focus on to the other twin; k keeps it.
    page.keyboard.press("k")
    other = _journal_lines(journal, 2)[-1]
    assert other["decision"] == "keep" and other["path"] != target
    # The keys went to the widget, not to JupyterLab (x in command mode cuts a cell).
    cells = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
    assert cells == 4
    # The kernel sees what the browser did.
    out = run_cell_in_lab(
        page, NOTEBOOK, "print(w.issue_filter, w.counts['excluded'], w.counts['kept'])"
    )
    assert out.strip() == "exact_duplicate 1 1"

    # u undoes the journal's last entry (the keep).
    card.click()
    page.keyboard.press("u")
    assert _journal_lines(journal, 1)[0]["decision"] == "exclude"

    # Arrows move between images; r opens the relabel list, an arrow picks, Enter applies.
    page.keyboard.press("ArrowRight")
    second = group.locator(".cvnb-insp-item").nth(1)
    page.wait_for_function("(c) => document.activeElement === c", arg=second.element_handle())
    page.keyboard.press("r")
    page.wait_for_function("() => document.activeElement.matches('select.cvnb-insp-relabel-to')")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    line = _journal_lines(journal, 2)[-1]
    assert (line["decision"], line["label"]) == ("relabel", "square")
    assert line["path"] == second.get_attribute("data-path")
    page.wait_for_function("(c) => c.dataset.decision === 'relabel'", arg=second.element_handle())
    assert second.locator(".cvnb-insp-badge").inner_text() == "→ square"
    widget.scroll_into_view_if_needed()
    widget.screenshot(path=SCREENSHOT)

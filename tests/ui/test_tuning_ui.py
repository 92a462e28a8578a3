"""LR finder and layer-freeze widgets in a real JupyterLab + chromium: clicks reach the learner."""

from __future__ import annotations

import pytest
from lab_driver import run_cell_in_lab, run_notebook_in_lab, write_notebook

pytestmark = pytest.mark.ui

NOTEBOOK = "tuning_ui.ipynb"
SCREENSHOT = "/tmp/cvnb_tuning.png"

# A tiny real learner: 40 training digits at 32 px, batches of 8.
MAKE_LEARNER = """\
import torch
from cvnb.data import load_images
from cvnb.datasets import digits
from cvnb.train import make_learner

torch.set_num_threads(1)
df = load_images(digits())
df = df[df.groupby(["split", "label"]).cumcount() < 4].reset_index(drop=True)
learn = make_learner(df, img_size=32, bs=8)
"""

SHOW_LR = """\
from cvnb.widgets._lr_finder import LRFinderWidget

lr_widget = LRFinderWidget(learn, num_it=12)
lr_widget
"""

SHOW_FREEZE = """\
from cvnb.widgets._freeze import LayerFreezeWidget

freeze_widget = LayerFreezeWidget(learn, lr_finder=lr_widget)  # head rate follows it
freeze_widget
"""


def test_pick_a_rate_and_toggle_a_group_in_jupyterlab(lab, page):
    write_notebook(
        lab.root_dir / NOTEBOOK, "Tuning widgets UI test", MAKE_LEARNER, SHOW_LR, SHOW_FREEZE
    )
    run_notebook_in_lab(page, lab.base_url, lab.token, NOTEBOOK, timeout_s=180)

    # LR finder: press "Run range test"; the kernel runs it and the plot arrives.
    finder = page.locator(".cvnb-lr-finder").first
    finder.wait_for(timeout=30_000)
    finder.locator("button.cvnb-lr-run").click()
    page.wait_for_function(
        """() => {
          const el = document.querySelector(".cvnb-lr-finder");
          const img = el && el.querySelector("img.cvnb-lr-image");
          return el.dataset.status === "done" && img.complete && img.naturalWidth > 0;
        }""",
        timeout=60_000,
    )
    assert finder.locator(".cvnb-lr-image").evaluate("(i) => i.src").startswith("blob:")
    assert finder.locator(".cvnb-lr-marker").is_visible()
    # A 12-iteration curve is too short to trust, and the widget says so.
    assert "only 12 iterations" in finder.locator(".cvnb-lr-warning").inner_text()

    # Click a suggestion other than the recommended (chosen) one.
    other = finder.locator("button.cvnb-lr-suggestion:not(.chosen):not([disabled])").first
    method = other.get_attribute("data-method")
    other.click()
    page.wait_for_function(
        "(m) => document.querySelector(`.cvnb-lr-suggestion[data-method='${m}']`)"
        ".classList.contains('chosen')",
        arg=method,
        timeout=20_000,
    )
    finder.locator("button.cvnb-lr-apply").click()
    page.wait_for_function(
        "() => document.querySelector('.cvnb-lr-applied').textContent.startsWith('applied')",
        timeout=20_000,
    )

    # Freeze controls: tick stage7 (frozen in a fresh pretrained learner), then Apply.
    freeze = page.locator(".cvnb-freeze").first
    freeze.scroll_into_view_if_needed()
    toggle = freeze.locator("input.cvnb-frz-toggle[data-group='stage7']")
    assert not toggle.is_checked()
    toggle.check()
    page.wait_for_function(
        "() => document.querySelector('.cvnb-frz-code').textContent.includes('freeze_to(7)')",
        timeout=20_000,
    )
    assert freeze.get_attribute("data-applied") == "false"
    freeze.locator("button.cvnb-frz-apply").click()
    page.wait_for_function(
        "() => document.querySelector('.cvnb-freeze').dataset.applied === 'true'", timeout=20_000
    )
    freeze.screenshot(path=SCREENSHOT.replace(".png", "_freeze.png"))
    finder.screenshot(path=SCREENSHOT)

    # The kernel sees what the browser did.
    out = run_cell_in_lab(
        page,
        NOTEBOOK,
        "w = lr_widget\n"
        f"print(w.chosen_lr == w.suggestions[{method!r}] != w.recommended,"
        " learn.opt.hypers[-1]['lr'] == w.chosen_lr == w.applied_lr,"
        " freeze_widget.trainable[7],"
        " all(p.requires_grad for p in learn.opt.param_lists[7]),"
        " any(p.requires_grad for p in learn.opt.param_lists[6] if p.ndim > 1))",
    )
    assert out.split() == ["True", "True", "True", "True", "False"], out

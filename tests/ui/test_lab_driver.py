"""The notebook driver itself: stderr is fine, a traceback fails with its text."""

from __future__ import annotations

import nbformat
import pytest
from lab_driver import NotebookError, run_notebook_in_lab

pytestmark = pytest.mark.ui


def _write(path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)


def test_warnings_pass_and_errors_fail(lab, page):
    _write(
        lab.root_dir / "driver_ok.ipynb",
        "import warnings, sys, os\nwarnings.warn('only a warning')\nprint('to stderr', file=sys.stderr)",
        "fast = os.environ.get('CVNB_FAST')\nprint(fast)",
    )
    state = run_notebook_in_lab(page, lab.base_url, lab.token, "driver_ok.ipynb", timeout_s=120)
    assert state["errors"] == [] and state["pending"] == []
    assert page.locator(".jp-OutputArea-output", has_text="1").count() >= 1  # CVNB_FAST=1

    _write(
        lab.root_dir / "driver_error.ipynb",
        "x = 1",
        "raise ValueError('planted failure')",
        "never = True",
    )
    with pytest.raises(NotebookError, match="ValueError: planted failure"):
        run_notebook_in_lab(page, lab.base_url, lab.token, "driver_error.ipynb", timeout_s=120)

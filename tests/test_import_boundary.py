"""Logic packages never load the widget stack (DESIGN.md §2); ``import cvnb`` stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

WIDGET_STACK = ("ipywidgets", "IPython", "traitlets", "anywidget")
LOGIC_PACKAGES = [
    "cvnb",
    "cvnb.data",
    "cvnb.datasets",
    "cvnb.models",
    "cvnb.train",
    "cvnb.export",
    "cvnb.evaluate",
    "cvnb.quality",
    "cvnb.augment",
]


def _modules_after_import(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", LOGIC_PACKAGES)
def test_logic_package_does_not_load_widget_stack(module):
    loaded = _modules_after_import(module)
    assert module in loaded
    leaked = sorted(m for m in loaded if any(m == w or m.startswith(w + ".") for w in WIDGET_STACK))
    assert not leaked, f"import {module} loaded {leaked}"


def test_import_cvnb_does_not_load_torch():
    loaded = _modules_after_import("cvnb")
    assert "torch" not in loaded
    assert not {"fastai", "timm", "onnxruntime"} & loaded


def test_the_check_sees_the_widget_stack():
    # The same probe on the widgets package must find it, or the tests above prove nothing.
    loaded = _modules_after_import("cvnb.widgets")
    assert {"ipywidgets", "traitlets"} & loaded

"""Import boundaries (docs/ARCHITECTURE.md): logic packages never load the widget stack,
``import cvnb`` stays cheap, the base install needs no torch, and a missing extra is named.

Each check runs in a fresh interpreter; a missing extra is simulated the way Python itself
honours it, with ``sys.modules[name] = None`` before the import.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

WIDGET_STACK = ("ipywidgets", "IPython", "traitlets", "anywidget")
TORCH_STACK = ("torch", "torchvision", "fastai", "timm")
LOGIC_PACKAGES = [
    "cvnb",
    "cvnb.cli",
    "cvnb.data",
    "cvnb.datasets",
    "cvnb.models",
    "cvnb.train",
    "cvnb.export",
    "cvnb.evaluate",
    "cvnb.explain",
    "cvnb.quality",
    "cvnb.augment",
]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def _modules_after(statement: str) -> set[str]:
    done = _run(f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))")
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _block(modules: tuple[str, ...]) -> str:
    """Code that makes ``modules`` unimportable, as if their extra were not installed."""
    return "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)


def _leaked(loaded: set[str], stack: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == s or m.startswith(s + ".") for s in stack))


@pytest.mark.parametrize("module", LOGIC_PACKAGES)
def test_logic_package_does_not_load_widget_stack(module):
    loaded = _modules_after(f"import {module}")
    assert module in loaded
    leaked = _leaked(loaded, WIDGET_STACK)
    assert not leaked, f"import {module} loaded {leaked}"


def test_import_cvnb_does_not_load_torch():
    loaded = _modules_after("import cvnb")
    assert "torch" not in loaded
    assert not {"fastai", "timm", "onnxruntime"} & loaded


def test_the_check_sees_the_widget_stack():
    # The same probe on a widget must find it, or the tests above prove nothing.
    loaded = _modules_after("from cvnb.widgets import ImageGrid")
    assert {"ipywidgets", "traitlets"} & loaded


def test_base_modules_load_no_torch():
    loaded = _modules_after(
        "import cvnb.data, cvnb.datasets, cvnb.export._runtime, cvnb.cli\n"
        "from cvnb.export import OnnxClassifier, load_onnx"
    )
    assert {"cvnb.data", "cvnb.export._runtime", "cvnb.cli", "onnxruntime"} <= loaded
    assert not _leaked(loaded, TORCH_STACK)


def test_the_image_grid_loads_no_torch():
    loaded = _modules_after("from cvnb.widgets import show_images")
    assert "cvnb.widgets._image_grid" in loaded
    assert not _leaked(loaded, TORCH_STACK)
    assert "cvnb.widgets._lr_finder" not in loaded


@pytest.mark.parametrize("package", ["cvnb.widgets", "cvnb.export"])
def test_lazy_packages_resolve_every_public_name(package):
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert not missing, f"{package}.__all__ names what its lazy map does not: {missing}"
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    ("statement", "blocked", "message"),
    [
        ("import cvnb.train", ("torch",), "cvnb.train needs the 'train' extra"),
        ("import cvnb.models", ("timm",), "cvnb.models needs the 'train' extra"),
        ("import cvnb.explain", ("torch",), "cvnb.explain needs the 'train' extra"),
        ("from cvnb.export import export_onnx", ("torch",), "needs the 'train' extra"),
        ("import cvnb.widgets", ("ipywidgets",), "cvnb.widgets needs the 'lab' extra"),
        ("from cvnb.widgets import LRFinderWidget", ("fastai",), "needs the 'train' extra"),
        (
            # a fresh cache: a cached export would run without torch (test_embed.py)
            "import os, tempfile\nos.environ['CVNB_CACHE'] = tempfile.mkdtemp()\n"
            "from cvnb.quality import make_embedder\nmake_embedder()",
            ("torch",),
            "(make_embedder) needs the 'train' extra",
        ),
    ],
)
def test_a_missing_extra_is_named(statement, blocked, message):
    done = _run(_block(blocked) + statement)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("cvnb._extras.MissingExtraError: "), done.stderr[-2000:]
    assert message in last
    extra = message.split("'")[1]
    assert f"pip install 'cvnb[{extra}]'" in last
    assert blocked[0] in last


def test_the_scans_image_checks_run_without_the_train_extra(tmp_path):
    """The base install scans: hashes, exposure, blur, sizes; only embeddings need torch."""
    rng = np.random.default_rng(0)
    for i in range(6):
        folder = tmp_path / "ab"[i % 2]
        folder.mkdir(exist_ok=True)
        pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i}.png")
    (tmp_path / "b" / "copy.png").write_bytes((tmp_path / "a" / "img0.png").read_bytes())
    Image.new("RGB", (40, 48), (3, 3, 3)).save(tmp_path / "b" / "dark.png")
    code = _block(TORCH_STACK) + (
        "import json\n"
        "from cvnb.data import load_images\n"
        "from cvnb.quality import scan_quality\n"
        f"df = load_images({str(tmp_path)!r})\n"
        "r = scan_quality(df, embedder=False, progress=False, cache=False)\n"
        "t = r.table.set_index(r.table.path.map(lambda p: p.rsplit('/', 1)[-1]))\n"
        "print(json.dumps({'dup': sorted(t.index[t.is_exact_duplicate]), "
        "'dark': sorted(t.index[t.is_dark])}))"
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"dup": ["copy.png", "img0.png"], "dark": ["dark.png"]}


def test_the_cli_names_the_lab_extra_for_the_demo():
    done = _run(_block(("papermill",)) + "from cvnb.cli import main\nmain(['demo'])")
    assert done.returncode == 1
    assert "cvnb demo: the demo needs the 'lab' extra: pip install 'cvnb[lab]'" in done.stderr


def _brightness_classifier(path: Path, pipeline: dict) -> None:
    """A real ONNX file in export_onnx's format: mean brightness → ("dark", "light")."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, 16, 16])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])
    weights = helper.make_tensor("w", TensorProto.FLOAT, [3, 2], [-1.0, 1.0] * 3)
    bias = helper.make_tensor("b", TensorProto.FLOAT, [2], [1.5, -1.5])
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["mean", "w"], ["scores"]),
        helper.make_node("Add", ["scores", "b"], ["logits"]),
    ]
    graph = helper.make_graph(nodes, "brightness", [image], [logits], [weights, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    config = {"classes": ["dark", "light"], "img_size": 16, "pipeline": pipeline}
    helper.set_model_props(model, {"cvnb_config": json.dumps(config)})
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_onnx_inference_runs_without_the_train_extra(tmp_path):
    from cvnb.augment import preset

    model = tmp_path / "model.onnx"
    _brightness_classifier(model, preset("none", 16).to_dict())
    shades = {"dark": 20, "light": 235}
    for name, value in shades.items():
        pixels = np.full((24, 40, 3), value, np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    paths = [str(tmp_path / f"{name}.png") for name in shades]
    done = _run(
        _block(TORCH_STACK)
        + "import json\nfrom cvnb.export import load_onnx\n"
        + f"table = load_onnx({str(model)!r}).predict({paths!r})\n"
        + "loaded = [m for m in ('torch', 'fastai', 'timm') if sys.modules.get(m)]\n"
        + "print(json.dumps({'labels': list(table['label']), 'loaded': loaded}))"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"labels": ["dark", "light"], "loaded": []}

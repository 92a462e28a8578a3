"""The ``cvnb`` command: notebooks copied out of a checkout and out of an installed wheel,
and ``cvnb demo`` handing its arguments to ``cvnb.demo``."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cvnb._resources import copy_notebooks, notebook_files, notebooks_dir
from cvnb.cli import demo_arguments, main

ROOT = Path(__file__).resolve().parents[1]
CURRICULUM = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_a_checkout_finds_its_notebooks_folder():
    assert notebooks_dir() == ROOT / "notebooks"
    assert [p.name for p in notebook_files()] == CURRICULUM
    assert CURRICULUM[0] == "00_quickstart.ipynb"


def test_the_console_script_copies_the_notebooks(tmp_path):
    script = Path(sys.executable).with_name("cvnb")
    assert script.is_file(), "pip install -e . writes the cvnb console script"
    dest = tmp_path / "mine"
    done = subprocess.run([script, "notebooks", dest], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in dest.iterdir()) == CURRICULUM
    for name in CURRICULUM:
        assert (dest / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
    assert done.stdout.splitlines() == [str(dest / n) for n in CURRICULUM]


def test_existing_notebooks_are_kept_unless_forced(tmp_path, capsys):
    (tmp_path / CURRICULUM[0]).write_text("my edits")
    with pytest.raises(SystemExit) as exit_:
        main(["notebooks", str(tmp_path)])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert CURRICULUM[0] in err and "--force" in err
    assert (tmp_path / CURRICULUM[0]).read_text() == "my edits"
    assert len(list(tmp_path.iterdir())) == 1, "nothing is copied when one file clashes"
    assert main(["notebooks", str(tmp_path), "--force"]) == 0
    assert len(copy_notebooks(tmp_path, overwrite=True)) == len(CURRICULUM)
    assert (tmp_path / CURRICULUM[0]).read_bytes() == (
        ROOT / "notebooks" / CURRICULUM[0]
    ).read_bytes()


def test_unknown_arguments_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["notebooks", str(tmp_path), "--bogus"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_demo_hands_its_arguments_to_cvnb_demo(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--data" in out and "--out" in out, "cvnb.demo's own options, not the cvnb parser's"


def test_demo_runs_the_shipped_notebooks_unless_told_otherwise():
    shipped = ["--notebooks", str(notebooks_dir())]
    assert demo_arguments(["--depth", "fast"]) == [*shipped, "--depth", "fast"]
    assert demo_arguments(["--notebooks", "mine"]) == ["--notebooks", "mine"]
    assert demo_arguments(["--notebooks=mine", "--all"]) == ["--notebooks=mine", "--all"]


def test_an_installed_wheel_carries_the_notebooks(tmp_path):
    """Outside the repository, from the wheel alone: the notebooks come out of the package."""
    wheels = tmp_path / "dist"
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", wheels, ROOT]
    done = subprocess.run(build, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = wheels.glob("cvnb-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a pure wheel installs by unpacking
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import cvnb, cvnb._resources as r, cvnb.cli as c\n"
        "print(cvnb.__file__)\nprint(r.notebooks_dir())\n"
        "c.main(['notebooks', 'copied'])"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    package, folder = done.stdout.splitlines()[:2]
    assert Path(package).is_relative_to(site), "the unpacked wheel, not the checkout"
    assert Path(folder) == site / "cvnb" / "_notebooks"
    assert sorted(p.name for p in (elsewhere / "copied").iterdir()) == CURRICULUM

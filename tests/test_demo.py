"""The demo runner: its path, papermill execution, the data rule, quiet output, the summary.

Also checks the curriculum itself: every notebook declares what data it takes and has a
parameters cell of plain literals that papermill parses.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from cvnb.demo import DATA_KIND, DEMO_PATH, PARAMETERS, curriculum, main, plan, run_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOISE = ("Unable to parse", "unknown parameter", "without encryption", "Traceback")


def _notebook(path, *cells, data=DATA_KIND):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if data:
        nb.metadata["cvnb"] = {"data": data}
    nbformat.write(nb, path)
    return path


def _params(source="DEPTH = 'full'\nDATA = None\nOUT = 'runs/x'"):
    return new_code_cell(source, metadata={"tags": ["parameters"]})


def test_curriculum_is_the_numbered_notebooks_in_order(tmp_path):
    for name in ["01_b.ipynb", "00_a.ipynb", "scratch.ipynb", "10_c.ipynb", "1_bad.ipynb"]:
        (tmp_path / name).write_text("{}")
    assert [p.name for p in curriculum(tmp_path)] == ["00_a.ipynb", "01_b.ipynb", "10_c.ipynb"]


def test_plan_runs_the_demo_path_and_skips_notebooks_that_cannot_take_the_data(tmp_path):
    for stem in [*DEMO_PATH, "02_other"]:
        _notebook(tmp_path / f"{stem}.ipynb", _params())
    _notebook(tmp_path / "09_detect.ipynb", _params(), data="detection")
    demo = plan(curriculum(tmp_path), everything=False, data=None)
    assert [(nb.stem, skip) for nb, skip in demo] == [(s, None) for s in DEMO_PATH]
    steps = dict(
        (nb.stem, skip) for nb, skip in plan(curriculum(tmp_path), everything=True, data="/p")
    )
    assert len(steps) == len(DEMO_PATH) + 2 and steps["02_other"] is None
    assert steps["09_detect"] == "skipped: it takes detection data, not a classification folder"
    (tmp_path / "01_inspect_and_clean.ipynb").unlink()
    with pytest.raises(ValueError, match="01_inspect_and_clean"):
        plan(curriculum(tmp_path), everything=False, data=None)


def test_run_notebook_injects_parameters_and_renders_html(tmp_path):
    src = tmp_path / "nbs"
    src.mkdir()
    body = new_code_cell(
        "from cvnb.runs import record_metrics\nrecord_metrics(OUT, data=DATA)\nprint('ran', DATA)"
    )
    _notebook(src / "00_tiny.ipynb", _params("OUT = None\nDATA = None"), body)
    out = tmp_path / "run"
    out.mkdir()

    executed = run_notebook(src / "00_tiny.ipynb", out, {"OUT": str(out), "DATA": "x"})

    assert sorted(p.name for p in src.iterdir()) == ["00_tiny.ipynb"]  # no kernel sockets left

    nb = nbformat.read(executed, as_version=4)
    assert "ran x" in "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert (out / "00_tiny.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert (out / "metrics.json").read_text().count('"data": "x"') == 1


def test_main_runs_quietly_and_prints_one_line_per_notebook(tmp_path, capfd, monkeypatch):
    monkeypatch.setenv("CVNB_FAST", "1")  # the kernel must get the depth from the parameters
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    body = new_code_cell(
        "from cvnb.runs import record_metrics, settings_from_env\n"
        "DEPTH, DATA = settings_from_env(DEPTH, DATA)\n"
        "record_metrics(OUT, '00_tiny', produced='nothing', key_figure=f'depth {DEPTH}')\n"
        "record_metrics(OUT, accuracy=0.5)"
    )
    _notebook(nbs / "00_tiny.ipynb", _params(), body)
    _notebook(nbs / "01_boxes.ipynb", _params(), data="detection")
    data = tmp_path / "photos"
    data.mkdir()
    out = tmp_path / "run"

    args = ["--notebooks", str(nbs), "--out", str(out), "--all", "--depth", "demo"]
    assert main([*args, "--data", str(data)]) == 0

    printed = capfd.readouterr()
    assert not [n for n in NOISE if n in printed.out + printed.err], printed.err[-2000:]
    lines = printed.out.splitlines()
    assert re.search(r"00_tiny +\d+ s  nothing; depth demo$", "\n".join(lines), re.M)
    assert any(line.startswith("▶ 01_boxes — skipped: it takes detection data") for line in lines)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == 0.5 and metrics["depth"] == "demo"
    assert metrics["00_tiny"]["seconds"] > 0 and metrics["00_tiny"]["cpu_seconds"] >= 0
    assert "01_boxes" not in metrics


def test_main_rejects_missing_data_and_empty_curriculum(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--notebooks", str(tmp_path), "--out", str(tmp_path / "o")])
    assert "no numbered notebooks" in capsys.readouterr().err


@pytest.mark.parametrize("notebook", curriculum(NOTEBOOKS), ids=lambda p: p.stem)
def test_curriculum_notebook_is_ready_for_the_demo(notebook, caplog):
    nb = nbformat.read(notebook, as_version=4)
    assert nb.metadata.get("cvnb", {}).get("data") in {DATA_KIND, "detection", "none"}
    with caplog.at_level(logging.WARNING, logger="papermill"):
        params = papermill.inspect_notebook(str(notebook))
    assert not caplog.records, [r.getMessage() for r in caplog.records]  # plain literals only
    assert set(PARAMETERS) <= set(params)
    assert params["DEPTH"]["default"] == '"full"'
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert re.search(rf'record_metrics\(\s*\w+,\s*"{notebook.stem}"', code)  # its own section
    text = "\n".join(c.source for c in nb.cells)
    assert not re.search(r"issue #\d|\(#\d+\)", text)
    for link in re.findall(r"\]\(([^)]+\.ipynb)\)", text):
        assert (NOTEBOOKS / link).is_file(), f"{notebook.name} links to missing {link}"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # stripped


def test_a_failing_notebook_is_reported_and_the_run_goes_on(tmp_path, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(
        nbs / "00_bad.ipynb", _params(), new_code_cell("assert DEPTH == 'x', 'target missed'")
    )
    good = "from cvnb.runs import record_metrics\nrecord_metrics(OUT, '01_ok', produced='p')"
    _notebook(nbs / "01_ok.ipynb", _params(), new_code_cell(good))

    assert main(["--notebooks", str(nbs), "--out", str(tmp_path / "run"), "--all"]) == 1

    printed = capsys.readouterr().out
    assert re.search(r"✗ 00_bad failed: AssertionError in cell \d+: target missed", printed)
    assert (tmp_path / "run" / "00_bad.html").is_file()  # where to look
    assert re.search(r"00_bad +\d+ s  FAILED: AssertionError", printed)
    assert re.search(r"01_ok +\d+ s  p; ", printed)


def _without(module: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``module`` cannot be imported, as on an
    install without its extra (``sys.modules[name] = None``, as tests/test_import_boundary.py
    does)."""
    blocked = f"import sys\nsys.modules[{module!r}] = None\n"
    return subprocess.run(
        [sys.executable, "-c", blocked + code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("module", ["papermill", "jupyter_client", "nbclient"])
def test_running_a_notebook_without_the_lab_extra_names_it(tmp_path, module):
    notebook = _notebook(tmp_path / "00_tiny.ipynb", _params())
    done = _without(
        module,
        "from pathlib import Path\nfrom cvnb.demo import run_notebook\n"
        f"run_notebook(Path({str(notebook)!r}), Path({str(tmp_path)!r}), {{}})",
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("cvnb._extras.MissingExtraError: "), done.stderr[-2000:]
    assert "needs the 'lab' extra: pip install 'cvnb[lab]'" in last
    assert module in last


def test_the_demo_without_the_lab_extra_says_what_to_install(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "00_tiny.ipynb", _params())
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")  # an earlier run's figures: kept
    args = ["--notebooks", str(nbs), "--out", str(out), "--all"]
    done = _without("papermill", f"from cvnb.demo import main\nmain({args!r})")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "cvnb.demo needs the 'lab' extra: pip install 'cvnb[lab]'" in done.stderr
    assert (out / "metrics.json").read_text() == "{}"

"""The demo runner: curriculum order, papermill execution, HTML rendering, CLI errors."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from cvnb.demo import curriculum, main, run_notebook


def _notebook(path, *cells):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def test_curriculum_is_the_numbered_notebooks_in_order(tmp_path):
    for name in ["01_b.ipynb", "00_a.ipynb", "scratch.ipynb", "10_c.ipynb", "1_bad.ipynb"]:
        (tmp_path / name).write_text("{}")
    assert [p.name for p in curriculum(tmp_path)] == ["00_a.ipynb", "01_b.ipynb", "10_c.ipynb"]


def test_run_notebook_injects_parameters_and_renders_html(tmp_path):
    src = tmp_path / "nbs"
    src.mkdir()
    params = new_code_cell("OUT = None\nDATA = None", metadata={"tags": ["parameters"]})
    body = new_code_cell(
        "from cvnb.runs import record_metrics\nrecord_metrics(OUT, data=DATA)\nprint('ran', DATA)"
    )
    _notebook(src / "00_tiny.ipynb", params, body)
    out = tmp_path / "run"
    out.mkdir()

    executed = run_notebook(src / "00_tiny.ipynb", out, {"OUT": str(out), "DATA": "x"})

    nb = nbformat.read(executed, as_version=4)
    assert "ran x" in "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert (out / "00_tiny.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert (out / "metrics.json").read_text().count('"data": "x"') == 1


def test_main_rejects_missing_data_and_empty_curriculum(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--notebooks", str(tmp_path), "--out", str(tmp_path / "o")])
    assert "no numbered notebooks" in capsys.readouterr().err

"""``python -m cvnb.demo``: run the notebook curriculum and collect what it produced.

Each numbered notebook (``notebooks/NN_*.ipynb``) is executed with papermill on the embedded
default dataset (or ``--data``), saved executed, rendered to HTML, and the run folder's
``metrics.json`` is summarized at the end. ``make demo`` calls this.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from cvnb.runs import METRICS_FILE, record_metrics

NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")


def curriculum(folder: str | os.PathLike) -> list[Path]:
    """The numbered notebooks in ``folder``, in order."""
    return sorted(p for p in Path(folder).iterdir() if NOTEBOOK_PATTERN.match(p.name))


def run_notebook(notebook: Path, out: Path, parameters: dict) -> Path:
    """Execute one notebook with papermill into ``out`` and render it to HTML beside it."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    executed = out / notebook.name
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters=parameters,
        cwd=str(notebook.parent),
        progress_bar=True,
        kernel_name="python3",
    )
    html, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    executed.with_suffix(".html").write_text(html, encoding="utf-8")
    return executed


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see ``python -m cvnb.demo --help``)."""
    parser = argparse.ArgumentParser(prog="python -m cvnb.demo", description=__doc__)
    parser.add_argument("--data", default=None, help="your image folder or CSV (default: digits)")
    parser.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    parser.add_argument("--notebooks", default="notebooks", help="folder of NN_*.ipynb")
    parser.add_argument("--fast", action="store_true", help="CI's fast mode (CVNB_FAST=1)")
    args = parser.parse_args(argv)

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = str(Path(args.data).resolve()) if args.data else None
    if data and not Path(data).exists():
        parser.error(f"--data {args.data}: no such file or folder")
    notebooks = curriculum(args.notebooks)
    if not notebooks:
        parser.error(f"no numbered notebooks (NN_name.ipynb) in {args.notebooks}")
    (out / METRICS_FILE).unlink(missing_ok=True)  # this run's figures only

    params = {
        "DATA": data,
        "OUT": str(out),
        "FAST": args.fast or os.environ.get("CVNB_FAST") == "1",
    }
    t0 = time.perf_counter()
    for nb in notebooks:
        print(f"▶ {nb.name}", flush=True)
        run_notebook(nb, out, params)
    metrics = record_metrics(out, demo_wall_seconds=round(time.perf_counter() - t0, 1))
    print(_summary(metrics, out))
    return 0


def _summary(metrics: dict, out: Path) -> str:
    onnx = metrics.get("onnx", {})
    lines = [
        "",
        "cvnb demo finished",
        f"  dataset          {metrics.get('dataset', '?')} ({metrics.get('n_images', '?')} images,"
        f" {metrics.get('n_errors', 0)} unreadable)",
        f"  accuracy         {metrics.get('accuracy', float('nan')):.4f} (validation)",
        f"  onnx parity      top-1 agreement {onnx.get('top1_agreement', float('nan')):.4f},"
        f" max |Δlogit| {onnx.get('max_abs_diff', float('nan')):.2e}",
        f"  wall time        {metrics.get('demo_wall_seconds', '?')} s",
        f"  files            {out}/ (executed notebooks, .html renderings, model.onnx,"
        f" {METRICS_FILE})",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m cvnb.demo``: run a path through the notebook curriculum and collect its results.

``make demo`` runs :data:`DEMO_PATH` at the ``"demo"`` depth (about a minute a notebook):
the quick start, then the steps a first-time user must see. ``make curriculum`` runs every
numbered notebook (``notebooks/NN_*.ipynb``) at the ``"full"`` depth. Each notebook is
executed with papermill (parameters ``DEPTH``, ``DATA``, ``OUT``), saved executed, rendered
to HTML, and the end of the run prints one line per notebook from ``OUT/metrics.json``.

With ``--data``, only notebooks whose metadata declares ``"cvnb": {"data":
"classification"}`` run on the folder; the others are skipped with a line that says so.

Running one notebook (:func:`run_notebook`, papermill and nbconvert) lives in
:mod:`cvnb._notebook_runner`; it needs the ``lab`` extra, which :func:`main` names before it
touches the run folder when it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from cvnb._extras import MissingExtraError
from cvnb._notebook_runner import (
    kernel_cpu_seconds,
    require_runner,
    run_notebook,
    run_or_reason,
    without_env,
)
from cvnb.runs import DEPTHS, METRICS_FILE, read_metrics, record_metrics

__all__ = [
    "DATA_KIND",
    "DEMO_PATH",
    "NOTEBOOK_PATTERN",
    "PARAMETERS",
    "curriculum",
    "data_kind",
    "main",
    "plan",
    "run_notebook",
    "summary",
]

NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")
#: The demo's path through the lifecycle: the quick start (load, train, export, parity), then
#: cleaning (bad data costs more than a bad architecture) and transfer learning (cvnb's
#: default recipe against the classic ones, on the same budget), then evaluation and
#: explanation (how good it really is, where it fails, what it looks at).
DEMO_PATH = (
    "00_quickstart",
    "01_inspect_and_clean",
    "05_transfer_learning",
    "06_evaluate_and_explain",
)
#: The kind of ``--data`` every notebook can take today.
DATA_KIND = "classification"
#: The parameters every curriculum notebook's ``parameters`` cell defines.
PARAMETERS = ("DEPTH", "DATA", "OUT")
_ENV_OVERRIDES = ("CVNB_DEPTH", "CVNB_FAST", "CVNB_DATA")


def curriculum(folder: str | os.PathLike) -> list[Path]:
    """The numbered notebooks in ``folder``, in order."""
    return sorted(p for p in Path(folder).iterdir() if NOTEBOOK_PATTERN.match(p.name))


def data_kind(notebook: str | os.PathLike) -> str | None:
    """What kind of ``DATA`` a notebook takes: its ``metadata.cvnb.data`` (None: none)."""
    meta = json.loads(Path(notebook).read_text(encoding="utf-8")).get("metadata", {})
    return meta.get("cvnb", {}).get("data")


def plan(
    notebooks: list[Path], *, everything: bool, data: str | None
) -> list[tuple[Path, str | None]]:
    """The notebooks to run, each with None or the reason it is skipped.

    Args:
        notebooks: The curriculum, in order.
        everything: All of them (``make curriculum``), else :data:`DEMO_PATH` only.
        data: The user's ``--data`` (None: the embedded default data).

    Raises:
        ValueError: If a notebook of :data:`DEMO_PATH` is missing.
    """
    if not everything:
        by_stem = {nb.stem: nb for nb in notebooks}
        missing = [s for s in DEMO_PATH if s not in by_stem]
        if missing:
            raise ValueError(f"the demo path needs {missing}; they are not in the folder")
        notebooks = [by_stem[s] for s in DEMO_PATH]
    steps = []
    for nb in notebooks:
        kind = data_kind(nb)
        skip = None
        if data and kind != DATA_KIND:
            skip = f"skipped: it takes {kind or 'no'} data, not a {DATA_KIND} folder"
        steps.append((nb, skip))
    return steps


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see ``python -m cvnb.demo --help``)."""
    parser = argparse.ArgumentParser(prog="python -m cvnb.demo", description=__doc__)
    parser.add_argument("--data", default=None, help="your image folder or CSV (default: digits)")
    parser.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo)")
    parser.add_argument("--notebooks", default="notebooks", help="folder of NN_*.ipynb")
    parser.add_argument("--depth", choices=DEPTHS, default=None, help="default: demo")
    parser.add_argument("--all", action="store_true", help="every notebook, not the demo path")
    parser.add_argument("--fast", action="store_true", help="same as --depth fast")
    args = parser.parse_args(argv)

    depth = args.depth or ("fast" if args.fast or os.environ.get("CVNB_FAST") == "1" else "demo")
    out = Path(args.out).resolve()
    data = str(Path(args.data).resolve()) if args.data else None
    if data and not Path(data).exists():
        parser.error(f"--data {args.data}: no such file or folder")
    notebooks = curriculum(args.notebooks)
    if not notebooks:
        parser.error(f"no numbered notebooks (NN_name.ipynb) in {args.notebooks}")
    try:
        steps = plan(notebooks, everything=args.all, data=data)
    except ValueError as err:
        parser.error(f"{err}; run with --all, or restore them")
    try:
        require_runner("cvnb.demo")
    except MissingExtraError as err:
        parser.exit(1, f"{parser.prog}: {err}\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS_FILE).unlink(missing_ok=True)  # this run's figures only

    params = {"DEPTH": depth, "DATA": data, "OUT": str(out)}
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    with without_env(_ENV_OVERRIDES):  # the parameters say it; the kernel must not override
        for nb, skip in steps:
            print(f"▶ {nb.stem}" + (f" — {skip}" if skip else ""), flush=True)
            if skip:
                continue
            start, cpu = time.perf_counter(), kernel_cpu_seconds()
            failed = run_or_reason(nb, out, params)
            seconds[nb.stem] = round(time.perf_counter() - start, 1)
            cpu_seconds = round(kernel_cpu_seconds() - cpu, 1)  # on a busy machine, wall ≫ CPU
            record_metrics(out, nb.stem, seconds=seconds[nb.stem], cpu_seconds=cpu_seconds)
            if failed:
                record_metrics(out, nb.stem, failed=failed)
                print(f"✗ {nb.stem} failed: {failed} (see {out / nb.name})", flush=True)
    record_metrics(out, depth=depth, demo_wall_seconds=round(time.perf_counter() - t0, 1))
    metrics = read_metrics(out)
    print(summary(metrics, steps, out))
    return 1 if any("failed" in metrics.get(nb.stem, {}) for nb, _ in steps) else 0


def summary(metrics: dict, steps: list[tuple[Path, str | None]], out: Path) -> str:
    """The end-of-run text: one line per notebook, then the run's headline figures."""
    lines = ["", f"cvnb demo finished ({metrics.get('depth', '?')} depth)"]
    for nb, skip in steps:
        section = metrics.get(nb.stem, {})
        if skip:
            lines.append(f"  {nb.stem:<28} {'—':>6}    {skip}")
            continue
        if "failed" in section:
            said = f"FAILED: {section['failed']}"
        else:
            said = f"{section.get('produced', '?')}; {section.get('key_figure', '')}"
        lines.append(f"  {nb.stem:<28} {section.get('seconds', 0):>5.0f} s  {said}")
    if "dataset" in metrics:
        lines.append(
            f"  dataset          {metrics['dataset']} ({metrics.get('n_images', '?')} images,"
            f" {metrics.get('n_errors', 0)} unreadable)"
        )
    if "accuracy" in metrics:
        lines.append(f"  accuracy         {metrics['accuracy']:.4f} (validation)")
    if "onnx" in metrics:
        onnx = metrics["onnx"]
        lines.append(
            f"  onnx parity      top-1 agreement {onnx.get('top1_agreement', float('nan')):.4f},"
            f" max |Δlogit| {onnx.get('max_abs_diff', float('nan')):.2e}"
        )
    lines += [
        f"  wall time        {metrics.get('demo_wall_seconds', '?')} s",
        f"  files            {out}/ (executed notebooks, their .html renderings, {METRICS_FILE})",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

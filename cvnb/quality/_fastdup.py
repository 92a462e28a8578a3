"""The fastdup engine: run fastdup on a dataset table and map its findings onto the report.

fastdup (Visual Layer; free for non-commercial use only) is optional: ``pip install
'cvnb[fastdup]'``. It pins ``numpy<2`` and ``Pillow==10.3.0``, so it often lives in an
environment of its own; :func:`scan_fastdup` therefore always runs fastdup in a child
Python process, which can be this interpreter or another one (``python=`` or the
``CVNB_FASTDUP_PYTHON`` environment variable), and reads back the files fastdup writes.
The child also keeps fastdup's side effects out of the caller: it prints to stdout from C,
changes pandas' global display options on import, and may ``sys.exit`` on a bad install.
``SENTRY_OPT_OUT=1`` (fastdup's crash and performance telemetry off) is set in the child's
environment before fastdup is imported, and ``run_sentry=0`` is passed to its engine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from ._fastdup_map import build_table, read_outputs
from ._report import ISSUES, QualityReport, issue_summary
from ._thresholds import DEFAULT_THRESHOLDS, resolve_thresholds

__all__ = [
    "FASTDUP_PYTHON_ENV",
    "FASTDUP_THRESHOLDS",
    "EngineUnavailable",
    "fastdup_available",
    "scan_fastdup",
]

#: Environment variable naming the Python interpreter that has fastdup installed.
FASTDUP_PYTHON_ENV = "CVNB_FASTDUP_PYTHON"
INSTALL_HINT = "pip install 'cvnb[fastdup]'"
_BUILTIN_HINT = (
    "The built-in engine, scan_quality(df, engine='builtin') (the default), needs nothing "
    "extra and fills the same report."
)

#: Defaults of the fastdup engine: flag when the score is below the value, as in
#: :data:`cvnb.quality._thresholds.DEFAULT_THRESHOLDS`. Where fastdup has its own default, it is
#: used (mapped onto the score); the rest are the built-in engine's.
FASTDUP_THRESHOLDS: dict[str, float] = {
    **{k: DEFAULT_THRESHOLDS[k] for k in (*ISSUES, "class_imbalance", "grayscale_colour_share")},
    "near_duplicate": 1.0 - 0.96,  # fastdup's ccthreshold: cosine 0.96
    "dark": 4.0 / 255.0,  # fastdup: mean < 4
    "bright": 2.0 / 255.0,  # fastdup: mean > 253
    "blurry": 0.5,  # fastdup: variance of the Laplacian < 150
    "outlier": 0.05,  # fastdup's lower_threshold: bottom 5 % of neighbour similarities
}

#: How each issue is found by this engine; the ones fastdup has no equivalent for are filled
#: by cvnb (``report.settings["not_covered"]`` lists those).
_SOURCES = {
    "unreadable": "fastdup: files it could not decode (atrain_features.bad.csv)",
    "near_duplicate": "fastdup: similarity of its embeddings (similarity.csv)",
    "dark": "fastdup: mean grey level (atrain_stats.csv)",
    "bright": "fastdup: mean grey level (atrain_stats.csv)",
    "blurry": "fastdup: variance of the Laplacian (atrain_stats.csv)",
    "outlier": "fastdup: bottom lower_threshold of neighbour similarities (outliers.csv)",
}
_NOT_COVERED = {
    "exact_duplicate": "cvnb: sha256 of the file bytes (fastdup has no content hash)",
    "leakage": "cvnb: near/exact groups that span splits",
    "low_information": "cvnb: entropy estimated from fastdup's unique levels and stdv",
    "odd_size": "cvnb: built-in rule on fastdup's width and height",
    "odd_aspect": "cvnb: built-in rule on fastdup's width and height",
    "grayscale": "cvnb: built-in rule on fastdup's mean HSV saturation",
    "label_issue": "cvnb: linear probe (out-of-fold) on fastdup's embeddings",
    "class_imbalance": "cvnb: smallest class / largest",
}
_MARKER = ".cvnb-fastdup"
# What a run leaves in the work folder; fastdup refuses to start where atrain_features.dat
# exists, so a re-scan into the same folder removes these first (and nothing else).
_RUN_FILES = (
    "similarity.csv",
    "outliers.csv",
    "connected_components.csv",
    "component_info.csv",
    "config.json",
    "nnf.index",
    "error.msg",
    "files.csv",
    "fastdup.log",
)

# Runs in the child interpreter: only the standard library and fastdup.
_CHILD = r"""
import json, os, sys
spec = json.loads(sys.argv[1])
os.environ["SENTRY_OPT_OUT"] = "1"
try:
    import fastdup
except ImportError as err:
    print("\nCVNB-FASTDUP-MISSING: " + str(err), flush=True)
    sys.exit(3)
except BaseException as err:
    print("\nCVNB-FASTDUP-REFUSED: %s: %s" % (type(err).__name__, err), flush=True)
    sys.exit(4)
print("\nCVNB-FASTDUP-VERSION: " + str(fastdup.__version__), flush=True)
try:
    ret = fastdup.run(**spec)
except BaseException as err:
    print("\nCVNB-FASTDUP-REFUSED: %s: %s" % (type(err).__name__, err), flush=True)
    sys.exit(4)
sys.exit(0 if ret == 0 else 5)
"""


class EngineUnavailable(ImportError):
    """fastdup is not installed, or it refused or failed to run.

    The message says what fastdup reported and how to continue (install it, or use the
    built-in engine).
    """


def fastdup_available(python: str | os.PathLike[str] | None = None) -> bool:
    """Whether fastdup can be found by ``python`` (default: see :func:`scan_fastdup`).

    For this interpreter the check is a cheap module lookup; for another one it starts
    that interpreter and looks there (without importing fastdup).
    """
    exe = _python(python)
    if exe == sys.executable:
        return importlib.util.find_spec("fastdup") is not None
    if not os.access(exe, os.X_OK):
        return False
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('fastdup') is None)"
    return subprocess.run([exe, "-c", code], capture_output=True, check=False).returncode == 0


def scan_fastdup(
    df: pd.DataFrame,
    *,
    thresholds: dict[str, float] | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    python: str | os.PathLike[str] | None = None,
    k: int = 5,
    threads: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> QualityReport:
    """Scan a dataset table with fastdup; the same report as the built-in engine.

    fastdup computes its own embeddings (a model shipped in its wheel, no download), each
    image's ``k`` nearest neighbours, and per-image statistics. They map onto the issues
    (thresholds in :data:`FASTDUP_THRESHOLDS`, flag when a score is below; fastdup's own
    defaults where it has them):

    - ``unreadable``: 0 for files fastdup could not decode; its error code, in words, is
      the ``unreadable_reason``. Every other score is NaN for them.
    - ``near_duplicate`` [0.04]: ``1 - s`` with ``s`` the fastdup cosine to the most
      similar other image (1 for identical bytes). Pairs with ``s >= 1 - threshold``
      (fastdup's ``ccthreshold`` 0.96) and exact duplicates form ``near_group``; every
      member is flagged.
    - ``dark`` [4/255] / ``bright`` [2/255]: fastdup's mean grey level ``m``:
      ``m / 255`` and ``1 - m / 255`` (fastdup flags ``m < 4`` and ``m > 253``).
    - ``blurry`` [0.5]: ``b / (b + 150)`` for fastdup's variance of the Laplacian ``b``,
      so 0.5 at fastdup's threshold of 150.
    - ``outlier`` [0.05]: the share of all neighbour similarities that are at most the
      image's lowest one; flagged as in fastdup's ``outliers.csv`` (its
      ``lower_threshold`` is this threshold).

    fastdup has no equivalent for the rest; cvnb fills them from fastdup's outputs and lists
    them in ``report.settings["not_covered"]``: ``exact_duplicate`` (sha256 of the bytes),
    ``leakage`` (groups across splits; score ``1 - s`` of the closest cross-split pair),
    ``low_information`` (entropy estimate ``min(log2 unique levels, log2(stdv·√(2πe)))
    / 8``), ``odd_size``/``odd_aspect``/``grayscale`` (the built-in rules, on fastdup's
    width, height and mean HSV saturation), ``label_issue`` (the built-in probe on
    fastdup's embeddings) and ``class_imbalance``.

    Args:
        df: A table with a ``path`` column (``label`` and ``split`` used when present),
            such as :func:`cvnb.data.load_images` returns; its index must be unique.
        thresholds: Overrides of :data:`FASTDUP_THRESHOLDS`.
        work_dir: Folder for fastdup's files (kept, e.g. for its galleries). It must be
            empty, new, or one this function used before. Default: a temporary folder,
            removed afterwards.
        python: Interpreter with fastdup installed. Default: the ``CVNB_FASTDUP_PYTHON``
            environment variable, else this interpreter.
        k: Nearest neighbours fastdup finds per image.
        threads: Threads for fastdup and the label probe (default: fastdup's, all cores).
        seed: Seeds the label probe's folds.
        progress: Show a progress bar.

    Returns:
        A :class:`~cvnb.quality._report.QualityReport` with ``engine="fastdup"``.

    Raises:
        EngineUnavailable: fastdup is not installed for ``python``, or it refused or
            failed to run (the message carries fastdup's own).
        ValueError: A table without ``path``, a repeated index label, an unknown threshold,
            or a ``work_dir`` holding other files.

    Example:
        >>> report = scan_fastdup(df, python=".venv-fastdup/bin/python")  # doctest: +SKIP
        >>> report.flagged("near_duplicate")[["path", "near_group"]]  # doctest: +SKIP
    """
    if not isinstance(df, pd.DataFrame) or "path" not in df.columns:
        raise ValueError(
            "scan_fastdup needs a table with a 'path' column, such as "
            "cvnb.data.load_images(folder) returns."
        )
    if not df.index.is_unique:
        raise ValueError("The table's index has repeated labels; reset_index(drop=True) it.")
    th = _resolve(thresholds)
    exe = _python(python)
    if exe == sys.executable and importlib.util.find_spec("fastdup") is None:
        raise EngineUnavailable(_missing_message(exe))
    if not os.access(exe, os.X_OK):
        raise EngineUnavailable(f"No Python interpreter at {exe!r}. " + _missing_message(exe))
    started = time.perf_counter()
    paths = [os.path.abspath(os.fspath(p)) for p in df["path"]]
    unique = list(dict.fromkeys(paths))
    own = work_dir is None
    wd = Path(tempfile.mkdtemp(prefix="cvnb-fastdup-")) if own else _prepare(Path(work_dir))
    try:
        version = _run(exe, unique, wd, k=k, threads=threads, th=th, progress=progress)
        run_s = time.perf_counter() - started
        out = read_outputs(wd, len(unique))
    finally:
        if own:
            shutil.rmtree(wd, ignore_errors=True)
    table, dataset = build_table(df, paths, unique, out, th, seed=seed, threads=threads)
    total_s = time.perf_counter() - started
    settings = {
        "n_images": len(df),
        "n_readable": int((table["unreadable_reason"] == "").sum()),
        "fastdup_version": version,
        "python": exe,
        "work_dir": None if own else str(wd),
        "k": k,
        "threads": threads,
        "seed": seed,
        "embedding_dim": int(out.emb.shape[1]),
        "sources": _SOURCES,
        "not_covered": _NOT_COVERED,
        "seconds_fastdup": round(run_s, 3),
        "seconds_total": round(total_s, 3),
        "images_per_s": round(len(df) / total_s, 2) if total_s > 0 else None,
    }
    return QualityReport(
        table=table,
        summary=issue_summary(table, th),
        dataset_issues=dataset,
        thresholds=th,
        engine="fastdup",
        settings=settings,
    )


def _resolve(thresholds: dict[str, float] | None) -> dict[str, float]:
    return resolve_thresholds(thresholds, FASTDUP_THRESHOLDS, engine="fastdup")


def _python(python: str | os.PathLike[str] | None) -> str:
    chosen = python if python is not None else os.environ.get(FASTDUP_PYTHON_ENV)
    if not chosen:
        return sys.executable
    found = shutil.which(os.fspath(chosen))
    return os.path.abspath(found or os.fspath(chosen))


def _missing_message(exe: str) -> str:
    return (
        f"The fastdup engine needs fastdup, which is not installed for {exe}. Install it "
        f"with `{INSTALL_HINT}` (it pins numpy<2 and Pillow==10.3.0, so a separate "
        f"environment is often best: then pass python='<that env>/bin/python' or set "
        f"{FASTDUP_PYTHON_ENV}). fastdup is free for non-commercial use only. " + _BUILTIN_HINT
    )


def _prepare(wd: Path) -> Path:
    """A work folder that is new, empty, or ours from before (never someone else's files)."""
    wd = wd.expanduser().absolute()
    if wd.exists() and any(wd.iterdir()) and not (wd / _MARKER).is_file():
        raise ValueError(
            f"work_dir {str(wd)!r} holds files that scan_fastdup did not write; give an empty "
            "or new folder (fastdup overwrites its outputs there)."
        )
    wd.mkdir(parents=True, exist_ok=True)
    (wd / _MARKER).write_text("fastdup work folder of cvnb.quality.scan_fastdup\n")
    for entry in wd.iterdir():
        if entry.name in _RUN_FILES or entry.name.startswith("atrain_"):
            entry.unlink()
        elif entry.name == "tmp" and entry.is_dir():
            shutil.rmtree(entry)
    return wd


def _run(
    exe: str,
    paths: list[str],
    wd: Path,
    *,
    k: int,
    threads: int | None,
    th: dict[str, float],
    progress: bool,
) -> str:
    """Run fastdup in ``exe`` on ``paths``; return its version or raise EngineUnavailable."""
    from tqdm.auto import tqdm

    files = wd / "files.csv"
    files.write_text("filename\n" + "".join(p + "\n" for p in paths))
    (wd / "tmp").mkdir(exist_ok=True)
    spec = {
        "input_dir": str(files),
        "work_dir": str(wd),
        "threshold": -1.0,  # keep all k neighbours: nearest_index and scores for every image
        "lower_threshold": th["outlier"],
        "nearest_neighbors_k": int(k),
        "num_threads": -1 if threads is None else int(threads),
        "turi_param": "run_sentry=0,store_int=1,run_advanced_stats=1,min_input_image_height=1,"
        "min_input_image_width=1",
    }
    env = {**os.environ, "SENTRY_OPT_OUT": "1", "TMPDIR": str(wd / "tmp")}
    log = wd / "fastdup.log"
    bar = tqdm(total=len(paths), desc="fastdup", unit="img", disable=not progress)
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [exe, "-c", _CHILD, json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(wd),
        )
        assert proc.stdout is not None
        tail = b""
        try:
            while chunk := proc.stdout.read1(65536):
                sink.write(chunk)
                tail = (tail + chunk)[-8192:]
                done = re.findall(rb"(\d+)% Estimated", chunk)
                target = round(len(paths) * int(done[-1]) / 100) if done else 0
                if target > bar.n:
                    bar.update(target - bar.n)
            code = proc.wait()
        except BaseException:  # an interrupted cell must not leave fastdup running
            proc.kill()
            proc.wait()
            raise
    if code == 0:
        bar.update(len(paths) - bar.n)
    bar.close()
    text = log.read_text(errors="replace")
    if code == 3:
        raise EngineUnavailable(_missing_message(exe))
    if code != 0:
        said = re.findall(r"CVNB-FASTDUP-REFUSED: (.*)", text)
        last = said[-1] if said else _last_lines(tail.decode(errors="replace"))
        raise EngineUnavailable(
            f"fastdup refused or failed to run (exit code {code}): {last} " + _BUILTIN_HINT
        )
    found = re.findall(r"CVNB-FASTDUP-VERSION: (\S+)", text)
    return found[-1] if found else "unknown"


def _last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", text) if ln.strip()]
    return " | ".join(lines[-n:]) or "no output"

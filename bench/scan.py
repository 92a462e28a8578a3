"""Quality scan: the built-in engine (cold cache, then a warm re-scan) vs fastdup, one folder.

"Cold" is an empty scan cache; the embedder's ONNX export, made once per machine like
fastdup's model download, is made before the clock starts. Each engine runs in a process of
its own, so its peak memory (``ru_maxrss``) is its own;
the fastdup engine's figure adds the peak of the fastdup child (an upper bound: both are
alive at once, though the scan process idles meanwhile). Reports images/s (wall time of the
scan call: model loading and fastdup's start-up included; listing the folder is not) and,
when the folder has a ``truth.csv`` (a dirty set), precision and recall per issue from
``evaluate_scan``. Prints one JSON object.

    .venv/bin/python bench/scan.py [--data FOLDER [--dirty]] [--threads 1]
        [--fastdup-python .venv-fastdup/bin/python]
    .venv/bin/python bench/scan.py --scale 2500,5000,10000,20000 [--scale-fastdup]
    .venv/bin/python bench/scan.py --data FOLDER --dirty --compare cleanvision,cleanlab \
        --compare-python /path/to/venv/bin/python [--fastdup-python ...]

``--compare`` also runs cleanvision (``Imagelab(filepaths).find_issues()``; its recall per
planted defect and images/s) and cleanlab (``find_label_issues`` on out-of-fold
probabilities of a logistic regression on the same backbone's pooled features at 224 px;
its precision@k) in the interpreter ``--compare-python`` (or ``$CVNB_COMPARE_PYTHON``),
through ``bench/scan_compare.py``; a tool that is not installed there is skipped with a
message.

Default data: the dirty digits. ``--dirty`` first makes a dirty copy of ``--data`` (cached
under ``cvnb.datasets.cache_dir()/bench``). ``--scale`` writes one folder of jittered copies
of the data's images (real files; distinct bytes and pixels) and scans the first N of it,
each N in a fresh process with a fresh cache, to show how memory grows with the folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_side import side_tools  # bench/ is a folder of scripts

_HERE = Path(__file__).resolve()
_MB = 1024.0  # ru_maxrss is in KiB on Linux


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One scan in this (fresh) process; returns its figures."""
    from cvnb.data import load_images

    df = load_images(spec["data"], check=False)
    if spec.get("n"):
        df = df.head(spec["n"]).copy()
    before = _rss_now_mb()
    start = time.perf_counter()
    if spec["engine"] == "builtin":
        from cvnb.quality import scan_quality  # no torch: the embedder's export is cached

        report = scan_quality(
            df, cache=spec["cache"], workers=spec["threads"], progress=False, seed=0
        )
    else:
        from cvnb.quality._fastdup import scan_fastdup

        report = scan_fastdup(
            df, python=spec.get("fastdup_python"), threads=spec["threads"], progress=False
        )
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _MB
    # The fastdup engine works in a child process: its peak adds to the scan's. The built-in
    # engine's only children are helpers like `ldconfig -p` (ctypes), whose ru_maxrss counts
    # the parent's pages at fork time: not the engine's memory.
    child = 0.0
    if spec["engine"] == "fastdup":
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / _MB
    out: dict[str, Any] = {
        "images": len(df),
        "seconds": round(seconds, 2),
        "images_per_s": round(len(df) / seconds, 1),
        "rss_before_scan_mb": round(before, 1),
        "peak_rss_mb": round(own + child, 1),
        "peak_rss_mb_parts": {"scan_process": round(own, 1), "fastdup_child": round(child, 1)},
    }
    keep = ("files_read", "cache", "fastdup_version", "embedder", "seconds_fastdup")
    out["settings"] = {k: report.settings[k] for k in keep if k in report.settings}
    if spec.get("truth"):
        from cvnb.quality import evaluate_scan

        table = evaluate_scan(report, spec["truth"])
        cols = ["n_planted", "n_flagged", "precision", "recall", "precision_at_k"]
        out["evaluation"] = {
            issue: {c: _num(row[c], c.startswith("n_")) for c in cols}
            for issue, row in table.iterrows()
        }
    return out


def _num(v: Any, count: bool) -> Any:
    f = float(v)
    return None if f != f else (int(f) if count else round(f, 3))


def _spawn(spec: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`_worker` in a fresh interpreter (this one's), return what it printed."""
    proc = subprocess.run(
        [sys.executable, str(_HERE), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit code {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fastdup_python(given: str | None) -> tuple[str | None, str | None]:
    """(interpreter for scan_fastdup, or None for this one; reason to skip, or None)."""
    from cvnb.quality import fastdup_available

    if given:
        return (given, None) if fastdup_available(given) else (None, f"no fastdup in {given}")
    if fastdup_available():
        return None, None
    return None, "fastdup not installed here; pass --fastdup-python PATH"


def _data(args: argparse.Namespace) -> Path:
    from cvnb.datasets import cache_dir, dirty_copy, dirty_digits

    if args.data is None:
        return dirty_digits(progress=False)
    src = Path(args.data).expanduser().resolve()
    if not args.dirty:
        return src
    from cvnb.datasets._plant import PLANT_VERSION

    tag = hashlib.sha1(str(src).encode()).hexdigest()[:8]
    root = cache_dir() / "bench" / f"{src.name}-dirty-s{args.seed}-{tag}-v{PLANT_VERSION}"
    counts = json.loads(args.counts) if args.counts else None
    if counts:
        tag = hashlib.sha1(json.dumps(counts, sort_keys=True).encode()).hexdigest()[:6]
        root = root.with_name(root.name + f"-c{tag}")
    return dirty_copy(src, root, seed=args.seed, counts=counts, progress=False)


def _compare(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    result = _compare_engines(args, root)
    tools = [t for t in (args.compare or "").split(",") if t]
    if tools:
        result["side_tools"] = side_tools(root, tools, args.compare_python, args.threads)
    return result


def _compare_engines(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    truth = root / "truth.csv"
    base = {"data": str(root), "threads": args.threads}
    base["truth"] = str(truth) if truth.is_file() else None
    engines: dict[str, Any] = {}
    _prepare_embedder(root)
    with tempfile.TemporaryDirectory(prefix="cvnb-bench-") as tmp:
        cache = str(Path(tmp) / "scan-cache.sqlite")
        engines["builtin_cold"] = _spawn({**base, "engine": "builtin", "cache": cache})
        warm = {**base, "engine": "builtin", "cache": cache, "truth": None}
        engines["builtin_warm"] = _spawn(warm)  # the same report as cold, not evaluated again
    exe, skip = _fastdup_python(args.fastdup_python)
    if skip:
        engines["fastdup"] = {"skipped": skip}
    else:
        engines["fastdup"] = _spawn({**base, "engine": "fastdup", "fastdup_python": exe})
    result: dict[str, Any] = {"bench": "scan", "data": str(root), "engines": {}}
    evaluation = {}
    for name, figures in engines.items():
        if "evaluation" in figures:
            evaluation[name.removesuffix("_cold")] = figures.pop("evaluation")
        result["engines"][name] = figures
    result["images"] = engines["builtin_cold"].get("images")
    cold, fd = engines["builtin_cold"], engines["fastdup"]
    if "images_per_s" in cold and "images_per_s" in fd:
        result["builtin_over_fastdup_images_per_s"] = round(
            cold["images_per_s"] / fd["images_per_s"], 2
        )
    result["evaluation"] = evaluation
    return result


def _prepare_embedder(root: Path) -> None:
    """Export the scan's embedder once, untimed, as fastdup's model is downloaded once.

    "Cold" means an empty scan cache (every file decoded, measured and embedded); the
    embedder's ONNX export, made once per machine and cached, is not part of it.
    """
    from cvnb.data import load_images
    from cvnb.quality import make_embedder
    from cvnb.quality._embed_choice import embedding_for

    make_embedder(**embedding_for(load_images(root, check=False)))


def _jittered_folder(source: Path, out: Path, n: int, seed: int) -> Path:
    """``n`` jittered copies of ``source``'s readable images as files under ``out``."""
    import numpy as np
    from PIL import Image

    from cvnb.data import load_images, readable

    marker = out / f".cvnb-bench-scale-{n}-{seed}"
    if marker.is_file():
        return out
    if out.exists():
        shutil.rmtree(out)
    rng = np.random.default_rng(seed)
    df = readable(load_images(source)).reset_index(drop=True)
    for i in range(n):
        row = df.iloc[i % len(df)]
        img = np.asarray(Image.open(row["path"]).convert("RGB"), dtype=np.float32)
        dy, dx = rng.integers(-2, 3, size=2)
        img = np.roll(img, (int(dy), int(dx)), axis=(0, 1)) * rng.uniform(0.9, 1.1)
        img = img + rng.normal(0, 3, img.shape)
        ext = ".jpg" if str(row["path"]).lower().endswith((".jpg", ".jpeg")) else ".png"
        dest = out / "train" / str(row["label"]) / f"s{i:06d}{ext}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8)).save(dest)
    marker.write_text("complete\n")
    return out


def _scale(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    sizes = sorted(int(s) for s in args.scale.split(","))
    folder = Path(args.scale_dir or Path(tempfile.gettempdir()) / "cvnb-bench-scale")
    _jittered_folder(root, folder, sizes[-1], args.seed)
    exe, skip = _fastdup_python(args.fastdup_python) if args.scale_fastdup else (None, "off")
    rows = []
    for n in sizes:
        base = {"data": str(folder), "n": n, "threads": args.threads}
        with tempfile.TemporaryDirectory(prefix="cvnb-bench-") as tmp:
            cache = str(Path(tmp) / "scan-cache.sqlite")
            row = {"images": n, "builtin": _spawn({**base, "engine": "builtin", "cache": cache})}
        if not skip:
            row["fastdup"] = _spawn({**base, "engine": "fastdup", "fastdup_python": exe})
        rows.append(row)
    if not args.scale_dir:
        shutil.rmtree(folder, ignore_errors=True)
    return {"bench": "scan_scale", "source": str(root), "sizes": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None, help="image folder (default: dirty digits)")
    parser.add_argument("--dirty", action="store_true", help="scan a dirty copy of --data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="threads for every engine")
    parser.add_argument("--fastdup-python", default=None, help="interpreter with fastdup")
    parser.add_argument("--scale", default=None, help="comma-separated folder sizes")
    parser.add_argument("--scale-dir", default=None, help="keep the synthetic folder here")
    parser.add_argument("--scale-fastdup", action="store_true", help="fastdup in --scale too")
    parser.add_argument("--counts", default=None, help="dirty_copy counts as JSON")
    parser.add_argument("--compare", default=None, help="side tools: cleanvision,cleanlab")
    parser.add_argument(
        "--compare-python",
        default=os.environ.get("CVNB_COMPARE_PYTHON"),
        help="interpreter with cleanvision/cleanlab",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return

    root = _data(args)
    result = _scale(args, root) if args.scale else _compare(args, root)
    result.update(
        threads=args.threads,
        cpu_count=os.cpu_count(),
        machine=platform.machine(),
        python=platform.python_version(),
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

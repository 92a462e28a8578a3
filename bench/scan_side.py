"""bench/scan.py's comparison with cleanvision and cleanlab on a dirty folder.

The tools run in their own interpreter (``bench/scan_compare.py``); this side lists the
files, computes cleanlab's evidence (out-of-fold probabilities of a logistic regression on
the backbone's pooled features at 224 px, the same images cvnb scans) and scores what the
tools report against the folder's ``truth.csv``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
#: cleanvision issue → cvnb issue.
CLEANVISION_ISSUES = {
    "exact_duplicates": "exact_duplicate",
    "near_duplicates": "near_duplicate",
    "dark": "dark",
    "light": "bright",
    "blurry": "blurry",
    "low_information": "low_information",
    "odd_size": "odd_size",
    "odd_aspect_ratio": "odd_aspect",
    "grayscale": "grayscale",
}


def side_tools(root: Path, tools: list[str], python: str | None, threads: int) -> dict[str, Any]:
    """Run ``tools`` on ``root`` in ``python``; figures per tool, or why one was skipped."""
    if not python or not os.access(python, os.X_OK):
        return {
            t: {"skipped": "no --compare-python interpreter given (or not executable)"}
            for t in tools
        }
    from cvnb.data import load_images

    df = load_images(root, check=False)
    paths = [os.path.abspath(p) for p in df["path"]]
    truth = root / "truth.csv"
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cvnb-side-") as tmp:
        spec: dict[str, Any] = {"tools": tools, "paths": paths, "threads": threads}
        readable = None
        if "cleanlab" in tools:
            started = time.perf_counter()
            readable = _probs(df, Path(tmp) / "probs.npz", threads)
            out["cleanlab_evidence_seconds"] = round(time.perf_counter() - started, 2)
            spec["probs"] = str(Path(tmp) / "probs.npz")
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
        proc = subprocess.run(
            [python, str(_HERE / "scan_compare.py"), str(Path(tmp) / "spec.json")],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        return {t: {"skipped": f"the side interpreter failed: {tail}"} for t in tools}
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    if "cleanvision" in found:
        out["cleanvision"] = _score_cleanvision(found["cleanvision"], root, truth)
    if "cleanlab" in found:
        out["cleanlab"] = _score_cleanlab(found["cleanlab"], readable, truth)
    return out


def _probs(df, dest: Path, threads: int) -> list[str]:
    """Out-of-fold probabilities (5 folds) of a logistic regression on 224 px features."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from cvnb.data import ImageReadError, read_image
    from cvnb.quality import make_embedder

    torch.set_num_threads(threads)
    embed = make_embedder(size=224, features="head", threads=threads)
    images, labels, paths = [], [], []
    for path, label in zip(df["path"], df["label"], strict=True):
        try:
            images.append(read_image(path))
        except ImageReadError:
            continue
        labels.append(str(label))
        paths.append(os.path.abspath(path))
    x = embed(images)
    _, y = np.unique(labels, return_inverse=True)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    probs = cross_val_predict(
        LogisticRegression(max_iter=1000), x, y, cv=folds, method="predict_proba"
    )
    np.savez(dest, pred_probs=probs, labels=y)
    return paths


def _truth(truth: Path) -> dict[str, set[str]]:
    import pandas as pd

    table = pd.read_csv(truth, dtype=str, keep_default_na=False)
    base = truth.parent
    return {
        issue: {os.path.abspath(base / p) for p in group["path"]}
        for issue, group in table.groupby("issue")
    }


def _score_cleanvision(found: dict[str, Any], root: Path, truth: Path) -> dict[str, Any]:
    if "skipped" in found:
        return found
    positives = _truth(truth)
    paths = [os.path.abspath(p) for p in found["paths"]]
    flagged: dict[str, set[str]] = {}
    for theirs, ours in CLEANVISION_ISSUES.items():
        marks = found["flags"].get(theirs, [False] * len(paths))
        flagged.setdefault(ours, set()).update(p for p, f in zip(paths, marks, strict=True) if f)
    flagged["near_duplicate"] |= flagged.get("exact_duplicate", set())  # a near group holds exact
    leak = set()
    for group in found["sets"].get("exact_duplicates", []) + found["sets"].get(
        "near_duplicates", []
    ):
        group = [os.path.abspath(p) for p in group]
        if len({Path(p).relative_to(root).parts[0] for p in group}) > 1:
            leak.update(group)
    flagged["leakage"] = leak
    scored = {}
    for issue, want in positives.items():
        if issue not in flagged:
            continue
        got = flagged[issue]
        hits = len(got & want)
        scored[issue] = {
            "n_planted": len(want),
            "n_flagged": len(got),
            "recall": round(hits / len(want), 3) if want else None,
            "precision": round(hits / len(got), 3) if got else None,
        }
    return {
        "version": found.get("version"),
        "stopped": found.get("stopped"),
        "images": len(paths),
        "seconds": found["seconds"],
        "images_per_s": found["images_per_s"],
        "evaluation": scored,
    }


def _score_cleanlab(found: dict[str, Any], paths: list[str] | None, truth: Path) -> dict[str, Any]:
    if "skipped" in found or paths is None:
        return found
    want = _truth(truth).get("label_issue", set())
    k = len(want)
    top = {paths[i] for i in found["all_ranked"][:k]}
    flagged = {paths[i] for i in found["flagged_ranked"]}
    return {
        "version": found.get("version"),
        "n_planted": k,
        "n_flagged": len(flagged),
        "precision_at_k": round(len(top & want) / k, 3) if k else None,
        "recall": round(len(flagged & want) / k, 3) if k else None,
        "seconds_find_label_issues": found["seconds"],
    }

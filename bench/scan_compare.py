"""The side tools that bench/scan.py compares with, run in their own interpreter.

Runs in an environment that has cleanvision 0.3.7 and/or cleanlab 2.9.0 (not cvnb's
dependencies): ``python bench/scan_compare.py SPEC.json`` prints one JSON object. Only the
standard library, numpy and the tools are imported, so it runs wherever they are installed.

SPEC: ``{"tools": [...], "paths": [...], "threads": n, "probs": "file.npz" (cleanlab:
arrays ``pred_probs`` and ``labels``)}``. cleanvision gets every path, as a user would give
it; when it stops on a broken file (``OSError``), that is recorded and it is run again on the
files Pillow can decode completely, as a user would do next.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _cleanvision(paths: list[str]) -> dict:
    from cleanvision import Imagelab

    out: dict = {"tool": "cleanvision"}
    try:
        import cleanvision

        out["version"] = cleanvision.__version__
    except AttributeError:
        pass
    started = time.perf_counter()
    try:
        lab = Imagelab(filepaths=paths)
        lab.find_issues()
    except OSError as err:
        out["stopped"] = f"{type(err).__name__}: {err}"
        kept = [p for p in paths if _decodes(p)]
        out["retried_without"] = len(paths) - len(kept)
        paths = kept
        started = time.perf_counter()
        lab = Imagelab(filepaths=paths)
        lab.find_issues()
    seconds = time.perf_counter() - started
    issues = lab.issues
    flags = {
        col.removeprefix("is_").removesuffix("_issue"): issues[col].astype(bool).tolist()
        for col in issues.columns
        if col.startswith("is_") and col.endswith("_issue")
    }
    sets = {}
    for kind in ("exact_duplicates", "near_duplicates"):
        info = lab.info.get(kind, {}) or {}
        sets[kind] = [[str(p) for p in group] for group in info.get("sets", [])]
    out.update(
        paths=[str(p) for p in issues.index],
        flags=flags,
        sets=sets,
        seconds=round(seconds, 2),
        images_per_s=round(len(paths) / seconds, 1),
    )
    return out


def _decodes(path: str) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:
        return False


def _cleanlab(probs_file: str) -> dict:
    import cleanlab
    import numpy as np
    from cleanlab.filter import find_label_issues

    data = np.load(probs_file)
    started = time.perf_counter()
    ranked = find_label_issues(
        labels=data["labels"],
        pred_probs=data["pred_probs"],
        return_indices_ranked_by="self_confidence",
    )
    # All rows ranked by self-confidence too, for precision@k when fewer are flagged.
    given = data["pred_probs"][np.arange(len(data["labels"])), data["labels"]]
    order = np.argsort(given, kind="stable")
    return {
        "tool": "cleanlab",
        "version": cleanlab.__version__,
        "flagged_ranked": [int(i) for i in ranked],
        "all_ranked": [int(i) for i in order],
        "seconds": round(time.perf_counter() - started, 3),
    }


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    os.environ.setdefault("OMP_NUM_THREADS", str(spec.get("threads", 1)))
    result = {}
    for tool in spec["tools"]:
        try:
            if tool == "cleanvision":
                result[tool] = _cleanvision(spec["paths"])
            elif tool == "cleanlab":
                result[tool] = _cleanlab(spec["probs"])
            else:
                result[tool] = {"skipped": f"unknown tool {tool!r}"}
        except ImportError as err:
            result[tool] = {"skipped": f"{tool} is not installed for {sys.executable}: {err}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Saliency maps on real photos: cost and faithfulness of Grad-CAM, SHAP and LIME.

For N validation images at 224 px on the default Lite0 after ``cvnb.train.fit``, per method:
seconds per image on the torch and onnxruntime paths, model calls, and the mean RISE
deletion AUC (lower is better) and insertion AUC (higher is better), beside the same metrics
for a seeded random map and for a centre-Gaussian map (the trivial "object in the middle"
baseline every saliency method must beat); and Grad-CAM's model-randomisation check
(Spearman ρ once the head and the last stage are random; < 0.5 passes).

Prints one JSON object (and writes it to ``--out`` when given).

    .venv/bin/python bench/explain.py [--data DIR] [--n 8] [--size 224] [--epochs 1]
        [--shap 500] [--lime 500] [--torch-n 1] [--threads 2] [--seed 0] [--out FILE]

The onnxruntime path (``runtime="auto"`` on a CPU) times every image; the torch path, about
3-6x slower for the black-box methods here, times the first ``--torch-n`` images only. One
untimed warm-up image pays the cold starts first (shap's numba compilation, the one-time
ONNX export: ``export_seconds``). The export goes to cvnb's cache (``$CVNB_CACHE``), never
beside the images.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cvnb.data import load_images, readable
from cvnb.explain import METHODS, centre_map, deletion_insertion, explain, sanity_check
from cvnb.explain._explain import _run, _Session
from cvnb.runs import write_json
from cvnb.train import fit, make_learner

FLOWERS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "flowers"


def _r(x, nd: int = 4):
    return None if x is None else round(float(x), nd)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return _r(np.mean(values)) if values else None


def _torch_seconds(learn, row, method: str, budget, seed: int) -> float:
    """Seconds of the map alone on the torch path (no scoring)."""
    session = _Session(learn, row, None, "torch")
    return _run(session, method, seed=seed, budget=budget, score=False).seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(FLOWERS), help="image folder (train/valid)")
    parser.add_argument("--n", type=int, default=8, help="validation images explained")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=1, help="fit's epochs after the probe")
    parser.add_argument("--shap", type=int, default=0, help="max_evals (0: the default)")
    parser.add_argument("--lime", type=int, default=0, help="num_samples (0: the default)")
    parser.add_argument("--torch-n", type=int, default=1, help="images timed on torch too")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch/onnxruntime threads")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        parser.error(f"{args.data} is not a folder")
    torch.set_num_threads(args.threads)
    from cvnb.explain import DEFAULT_BUDGETS

    budgets = {
        "shap": args.shap or DEFAULT_BUDGETS["shap"],
        "lime": args.lime or DEFAULT_BUDGETS["lime"],
    }

    start = time.perf_counter()
    table = readable(load_images(args.data))
    learn = make_learner(table, img_size=args.size, bs=32, seed=args.seed)
    result = fit(learn, args.epochs, seed=args.seed, progress=False)
    fit_seconds = time.perf_counter() - start
    print(f"fit: {result.valid_accuracy:.3f} in {fit_seconds:.0f} s", file=sys.stderr)

    valid = table[table.split == "valid"].sample(frac=1.0, random_state=args.seed)
    rows = [r for _, r in valid.head(args.n + 1).iterrows()]
    warm_up, rows = rows[0], rows[1:]
    t0 = time.perf_counter()
    cold = explain(learn, warm_up, budgets=budgets, seed=args.seed, progress=False)
    cold_seconds = time.perf_counter() - t0
    export_seconds = max(float(e.info.get("export_seconds") or 0) for e in cold.values())

    per: dict[str, dict[str, list]] = {m: {} for m in METHODS}
    centre = {"deletion": [], "insertion": []}
    random_ = {"deletion": [], "insertion": []}
    view = []
    for i, row in enumerate(rows):
        t0 = time.perf_counter()
        maps = explain(learn, row, budgets=budgets, seed=args.seed, progress=False)
        view.append(time.perf_counter() - t0)
        index = list(maps.probs).index(maps.target)
        arr = np.asarray(maps.image, dtype=np.float32) / 255.0
        scorer = next(iter(maps.values())).info["scoring_runtime"]
        from cvnb.explain._model import ModelFn

        c_del, c_ins = deletion_insertion(
            ModelFn(learn, scorer), arr, centre_map(arr.shape[:2]), index, seed=args.seed
        )
        centre["deletion"].append(c_del)
        centre["insertion"].append(c_ins)
        first = next(iter(maps.values()))
        random_["deletion"].append(first.random_baseline["deletion"])
        random_["insertion"].append(first.random_baseline["insertion"])
        for method, e in maps.items():
            d = per[method]
            d.setdefault(f"seconds_{e.runtime}", []).append(e.seconds)
            d.setdefault("model_calls", []).append(e.n_model_calls)
            d.setdefault("deletion_auc", []).append(e.deletion_auc)
            d.setdefault("insertion_auc", []).append(e.insertion_auc)
            d.setdefault("beats_random", []).append(e.deletion_auc < e.random_baseline["deletion"])
            d.setdefault("beats_centre", []).append(e.deletion_auc < c_del)
            if method != "gradcam" and i < args.torch_n:
                secs = _torch_seconds(learn, row, method, budgets[method], args.seed)
                d.setdefault("seconds_torch", []).append(secs)
        print(f"image {i + 1}/{len(rows)}: {view[-1]:.1f} s", file=sys.stderr, flush=True)

    rhos = []  # Grad-CAM's model-randomisation check on the same images
    for row in rows:
        table_ = sanity_check(learn, row, seed=args.seed).table
        rhos.append(float(table_.loc[table_.randomised == "head+stage -1", "spearman"].iloc[0]))

    methods = {}
    for method, d in per.items():
        methods[method] = {
            "budget": budgets.get(method),
            "seconds_per_image_torch": _mean(d.get("seconds_torch", [])),
            "seconds_per_image_onnxruntime": _mean(d.get("seconds_onnxruntime", [])),
            "seconds_max": _r(max(d.get("seconds_onnxruntime", d.get("seconds_torch", [0])))),
            "n_torch_timed": len(d.get("seconds_torch", [])),
            "model_calls_mean": _mean(d["model_calls"]),
            "deletion_auc_mean": _mean(d["deletion_auc"]),
            "insertion_auc_mean": _mean(d["insertion_auc"]),
            "beats_random_deletion": f"{sum(d['beats_random'])}/{len(d['beats_random'])}",
            "beats_centre_deletion": f"{sum(d['beats_centre'])}/{len(d['beats_centre'])}",
        }
    baselines = {
        "random": {k: _mean(v) for k, v in random_.items()},
        "centre_gaussian": {k: _mean(v) for k, v in centre.items()},
    }
    for m in methods.values():
        m["mean_beats_random_deletion"] = m["deletion_auc_mean"] < baselines["random"]["deletion"]
        m["mean_beats_centre_deletion"] = (
            m["deletion_auc_mean"] < baselines["centre_gaussian"]["deletion"]
        )
    report = {
        "bench": "explain",
        "data": args.data,
        "n_images": len(rows),
        "img_size": args.size,
        "arch": "tf_efficientnet_lite0 (offline ImageNet weights)",
        "epochs": args.epochs,
        "valid_accuracy": _r(result.valid_accuracy),
        "kept": result.kept,
        "fit_seconds": round(fit_seconds, 1),
        "budgets": budgets,
        "methods": methods,
        "baselines": baselines,
        "gradcam_sanity": {
            "spearman_head_and_last_stage_random": [_r(r, 3) for r in rhos],
            "mean": _mean(rhos),
            "model_sensitive": f"{sum(r < 0.5 for r in rhos)}/{len(rhos)}",
        },
        "view_seconds_mean": _mean(view),
        "view_seconds_max": _r(max(view)) if view else None,
        "cold_view_seconds": round(cold_seconds, 1),
        "export_seconds": round(export_seconds, 1),
        "threads": torch.get_num_threads(),
        "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "note": "deletion: lower is better; insertion: higher is better (RISE, 20 steps). "
        "seconds are the map alone; the view also scores every map and the random one. "
        "The machine is shared: wall-clock figures are noisy.",
    }
    if args.out:
        write_json(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

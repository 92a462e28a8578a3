"""Fine-tuning recipes, same data, same epochs, same run: validation accuracy and wall time.

Recipes (each on a freshly built learner with the same seed, so the same initial weights
and batch order):

- ``cvnb_default``: ``cvnb.train.fit(learn, epochs)`` with its defaults — linear-probe head
  (logistic regression on frozen pretrained features), then every layer with one-cycle at
  discriminative rates (1e-3 for the head, 1e-5 for the stem), BatchNorm on its pretrained
  statistics; 20 % of the training images held back to choose between the fine-tuned
  network and the probe (``kept``).
- ``fine_tune_unchecked``: the same without the held-back check (``holdout=0``): every
  training image fine-tunes and the fine-tuned network is kept whatever it scores.
- ``probe_only``: the linear probe alone (``fit_probe_head``), no epoch.
- ``cvnb_balanced``: ``cvnb_default`` with ``balance=True`` (class weights in the probe and
  the loss).
- ``lr_finder_frozen_discriminative``: the classic transfer-learning recipe — LR finder,
  one frozen epoch (head and norms), then every layer with discriminative rates (fastai's
  ``fine_tune`` shape), ``fit(..., head_init="none", freeze_epochs=1)``.
- ``plain_all_layers``: every layer from the start, one-cycle at a fixed rate
  (``--plain-lr``; default the quickstart's: 5e-3 on digits, 1e-3 on photos),
  ``fit(..., lr=PLAIN_LR, head_init="none", lr_spread=1)``.

Prints one JSON object (and writes it to ``--out`` when given).

    .venv/bin/python bench/finetune.py [--data DIR | --data digits] [--sizes 128,224]
        [--epochs 5] [--bs 32] [--plain-lr 1e-3] [--recipes a,b] [--seeds 0,1,2]
        [--threads 2] [--out FILE]

Each recipe runs once per size and seed; its entry (``recipes["<name>@<size>"]``) holds every
run (validation accuracy and balanced accuracy, the probe's, which model was kept, seconds)
and the means. Without ``--sizes`` the size is ``cvnb.train.default_img_size`` (what
``make_learner`` picks: 224 for photos with EfficientNet-Lite0, 48 for digits).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from cvnb.data import load_images, readable
from cvnb.datasets import digits
from cvnb.runs import write_json
from cvnb.train import default_img_size, fit, fit_probe_head, make_learner

COCO_CROPS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "coco-crops"
RECIPES = (
    "cvnb_default",
    "fine_tune_unchecked",
    "probe_only",
    "cvnb_balanced",
    "lr_finder_frozen_discriminative",
    "plain_all_layers",
)


def _recipe_kwargs(name: str, plain_lr: float) -> dict:
    return {
        "cvnb_default": {},
        "fine_tune_unchecked": {"holdout": 0},
        "cvnb_balanced": {"balance": True},
        "lr_finder_frozen_discriminative": {"head_init": "none", "freeze_epochs": 1},
        "plain_all_layers": {"lr": plain_lr, "head_init": "none", "lr_spread": 1},
    }[name]


def _r(x) -> float | None:
    return None if x is None else round(float(x), 4)


def _run(table, name: str, size: int, seed: int, args) -> dict:
    learn = make_learner(table, img_size=size, bs=args.bs, seed=seed)
    wall, cpu = time.perf_counter(), time.process_time()
    if name == "probe_only":
        probe = fit_probe_head(learn, progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {
            "seed": seed,
            "valid_accuracy": _r(probe.accuracy),
            "valid_balanced_accuracy": _r(probe.balanced_accuracy),
            "probe_accuracy": _r(probe.accuracy),
            "kept": "probe",
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
        }
    kwargs = _recipe_kwargs(name, args.plain_lr)
    if args.lr and name in ("cvnb_default", "fine_tune_unchecked", "cvnb_balanced"):
        kwargs["lr"] = args.lr
    res = fit(learn, args.epochs, seed=seed, progress=False, **kwargs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "seed": seed,
        "valid_accuracy": _r(res.valid_accuracy),
        "valid_balanced_accuracy": _r(res.valid_balanced_accuracy),
        "accuracy_per_epoch": [_r(a) for a in res.history["accuracy"]],
        "balanced_accuracy_per_epoch": [_r(a) for a in res.history["balanced_accuracy"]],
        "probe_accuracy": _r(res.probe_accuracy),
        "probe_balanced_accuracy": _r(res.probe_balanced_accuracy),
        "kept": res.kept,
        "kept_reason": res.kept_reason,
        "holdout": res.holdout,
        "lr": float(f"{res.lr:.3g}"),
        "lr_source": res.lr_source,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
    }


def _mean(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(sum(values) / len(values), 4) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(COCO_CROPS), help="image folder, or 'digits'")
    parser.add_argument(
        "--sizes", default="", help="comma-separated sides, e.g. 128,160,224 (default: auto)"
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--bs", type=int, default=0, help="0: 64 for digits, else 32")
    parser.add_argument(
        "--plain-lr", type=float, default=0, help="0: 5e-3 for digits, else 1e-3 (quickstart's)"
    )
    parser.add_argument(
        "--lr", type=float, default=0, help="head rate of the cvnb recipes (0: fit's default)"
    )
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()

    on_digits = args.data == "digits"
    if not on_digits and not Path(args.data).is_dir():
        parser.error(f"{args.data} is not a folder; give --data DIR or --data digits")
    args.bs = args.bs or (64 if on_digits else 32)
    args.plain_lr = args.plain_lr or (5e-3 if on_digits else 1e-3)
    names = [n for n in args.recipes.split(",") if n]
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipe(s) {unknown}; choose from {list(RECIPES)}")
    torch.set_num_threads(args.threads)

    table = readable(load_images(digits() if on_digits else args.data))
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()] or [default_img_size(table)]
    start = time.perf_counter()
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    results = {}
    for size in sizes:
        for name in names:
            runs = [_run(table, name, size, seed, args) for seed in seeds]
            key = f"{name}@{size}"
            results[key] = {
                "recipe": name,
                "img_size": size,
                "valid_accuracy_mean": _mean(runs, "valid_accuracy"),
                "valid_balanced_accuracy_mean": _mean(runs, "valid_balanced_accuracy"),
                "probe_accuracy_mean": _mean(runs, "probe_accuracy"),
                "valid_accuracy_per_seed": [r["valid_accuracy"] for r in runs],
                "kept_per_seed": [r["kept"] for r in runs],
                "wall_s_mean": _mean(runs, "wall_s"),
                "cpu_s_mean": _mean(runs, "cpu_s"),
                "runs": runs,
            }
            print(f"{key}: {json.dumps(results[key])}", file=sys.stderr, flush=True)
    report = {
        "bench": "finetune",
        "data": "digits (embedded)" if on_digits else args.data,
        "n_train": int((table.split == "train").sum()),
        "n_valid": int((table.split == "valid").sum()),
        "arch": "tf_efficientnet_lite0 (offline ImageNet weights)",
        "img_sizes": sizes,
        "epochs": args.epochs,
        "batch_size": args.bs,
        "plain_lr": args.plain_lr,
        "lr": args.lr or "fit's default",
        "seeds": seeds,
        "recipes": results,
        "best": max(results, key=lambda n: results[n]["valid_accuracy_mean"]),
        "total_wall_s": round(time.perf_counter() - start, 1),
        "threads": torch.get_num_threads(),
        "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "note": "wall_s includes the LR finder, the probe and the held-back check; on a shared "
        "machine compare cpu_s. One validation split: a difference of one or two images is "
        "noise.",
    }
    if args.out:
        write_json(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

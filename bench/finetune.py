"""Fine-tuning recipes, same data, same epochs, same run: validation accuracy and wall time.

Recipes (each on a freshly built learner with the same seed, so the same initial weights
and batch order):

- ``cvnb_default``: ``cvnb.train.fit(learn, epochs)`` with its defaults — linear-probe head
  (logistic regression on frozen pretrained features), then every layer with one-cycle at
  discriminative rates (1e-3 for the head, 1e-5 for the stem), BatchNorm on its pretrained
  statistics.
- ``lr_finder_frozen_discriminative``: the classic transfer-learning recipe — LR finder,
  one frozen epoch (head and norms), then every layer with discriminative rates (fastai's
  ``fine_tune`` shape), ``fit(..., head_init="none", freeze_epochs=1)``.
- ``plain_all_layers``: every layer from the start, one-cycle at a fixed rate
  (``--plain-lr``; default the quickstart's: 5e-3 on digits, 1e-3 on photos),
  ``fit(..., lr=PLAIN_LR, head_init="none", lr_spread=1)``.

Prints one JSON object (and writes it to ``--out`` when given).

    .venv/bin/python bench/finetune.py [--data DIR | --data digits] [--img-size 128]
        [--epochs 5] [--bs 32] [--plain-lr 1e-3] [--recipes a,b] [--seeds 0,1,2] [--out FILE]

Each recipe runs once per seed; its entry holds every run and the mean accuracy.
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
from cvnb.train import fit, make_learner

COCO_CROPS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "coco-crops"
RECIPES = ("cvnb_default", "lr_finder_frozen_discriminative", "plain_all_layers")


def _recipe_kwargs(name: str, plain_lr: float) -> dict:
    return {
        "cvnb_default": {},
        "lr_finder_frozen_discriminative": {"head_init": "none", "freeze_epochs": 1},
        "plain_all_layers": {"lr": plain_lr, "head_init": "none", "lr_spread": 1},
    }[name]


def _run(table, name: str, seed: int, args) -> dict:
    learn = make_learner(table, img_size=args.img_size, bs=args.bs, seed=seed)
    wall, cpu = time.perf_counter(), time.process_time()
    res = fit(learn, args.epochs, seed=seed, progress=False, **_recipe_kwargs(name, args.plain_lr))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    accs = [round(float(a), 4) for a in res.history["accuracy"]]
    return {
        "seed": seed,
        "valid_accuracy": accs[-1],
        "accuracy_per_epoch": accs,
        "probe_accuracy": None if res.probe_accuracy is None else round(res.probe_accuracy, 4),
        "lr": float(f"{res.lr:.3g}"),
        "lr_source": res.lr_source,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(COCO_CROPS), help="image folder, or 'digits'")
    parser.add_argument("--img-size", type=int, default=0, help="0: 48 for digits, else 128")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--bs", type=int, default=0, help="0: 64 for digits, else 32")
    parser.add_argument(
        "--plain-lr", type=float, default=0, help="0: 5e-3 for digits, else 1e-3 (quickstart's)"
    )
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()

    on_digits = args.data == "digits"
    if not on_digits and not Path(args.data).is_dir():
        parser.error(f"{args.data} is not a folder; give --data DIR or --data digits")
    args.img_size = args.img_size or (48 if on_digits else 128)
    args.bs = args.bs or (64 if on_digits else 32)
    args.plain_lr = args.plain_lr or (5e-3 if on_digits else 1e-3)
    names = [n for n in args.recipes.split(",") if n]
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipe(s) {unknown}; choose from {list(RECIPES)}")
    torch.set_num_threads(args.threads)

    table = readable(load_images(digits() if on_digits else args.data))
    start = time.perf_counter()
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    results = {}
    for name in names:
        runs = [_run(table, name, seed, args) for seed in seeds]
        accs = [r["valid_accuracy"] for r in runs]
        results[name] = {
            "valid_accuracy_mean": round(sum(accs) / len(accs), 4),
            "valid_accuracy_per_seed": accs,
            "cpu_s_mean": round(sum(r["cpu_s"] for r in runs) / len(runs), 1),
            "runs": runs,
        }
        print(f"{name}: {accs}", file=sys.stderr, flush=True)
    report = {
        "bench": "finetune",
        "data": "digits (embedded)" if on_digits else args.data,
        "n_train": int((table.split == "train").sum()),
        "n_valid": int((table.split == "valid").sum()),
        "arch": "tf_efficientnet_lite0 (offline ImageNet weights)",
        "img_size": args.img_size,
        "epochs": args.epochs,
        "batch_size": args.bs,
        "plain_lr": args.plain_lr,
        "seeds": seeds,
        "recipes": results,
        "best": max(results, key=lambda n: results[n]["valid_accuracy_mean"]),
        "total_wall_s": round(time.perf_counter() - start, 1),
        "threads": torch.get_num_threads(),
        "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "note": "wall_s includes the LR finder and the probe; on a shared machine compare "
        "cpu_s. One validation split: a difference of one or two images is noise.",
    }
    if args.out:
        write_json(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

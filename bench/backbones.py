"""Backbones: parameters, FLOPs, CPU latency at batch 1 and throughput at batch N, offline weights.

Runs :func:`cvnb.models.compare_backbones` on the given timm names (default: its
``DEFAULT_CANDIDATES``) and prints one JSON object. Models are built with random weights:
nothing is downloaded. Timings depend on the machine and its load (reported at the end);
compare rows of one run.

    .venv/bin/python bench/backbones.py [--names a,b] [--img-size 224] [--batch 16]
        [--threads 1] [--repeats 10] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import torch

from cvnb.models import DEFAULT_CANDIDATES, compare_backbones
from cvnb.runs import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", default=",".join(DEFAULT_CANDIDATES), help="timm names")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16, help="batch of the throughput column")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=10, help="timed passes (median)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()

    names = [n.strip() for n in args.names.split(",") if n.strip()]
    cmp = compare_backbones(
        names,
        img_size=args.img_size,
        batch_size=args.batch,
        threads=args.threads,
        repeats=args.repeats,
        progress=False,
    )
    rows = cmp.table.drop(columns="note").round(
        {"params_m": 2, "gflops": 3, "latency_ms": 1, "throughput": 1}
    )
    report = {
        "bench": "backbones",
        "img_size": cmp.img_size,
        "batch_size": cmp.batch_size,
        "threads": cmp.threads,
        "repeats": args.repeats,
        "backbones": rows.to_dict("records"),
        "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "note": "random weights (nothing downloaded); accuracy needs training (notebook 03)",
    }
    if args.out:
        write_json(args.out, report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

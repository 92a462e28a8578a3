"""Augmentation: explorer re-render latency, and the medium preset's throughput against an
equivalent torchvision.transforms.v2 pipeline, same images, same run. Prints one JSON object.

Latency: an AugmentationExplorer on 8 images × 1 draw at 256 px (8 thumbnails) is driven
through its traits as the browser drives it (a probability, a rotation range, the seed); the
time from setting the trait to the new ``previews`` is recorded (no front end is attached,
so sending the bytes to a browser is not included). Throughput: both pipelines turn decoded
images (numpy HWC for albumentations, uint8 CHW tensors for torchvision, converted before
timing) into augmented ``size`` × ``size`` uint8 images.

    .venv/bin/python bench/augment.py [--data FOLDER] [--size 256] [--changes 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import albumentations as A
import cv2
import numpy as np
import torch
from torchvision.transforms import v2

from cvnb.augment import preset
from cvnb.augment._preview import sample_images
from cvnb.data import load_images, readable
from cvnb.datasets import digits
from cvnb.widgets import AugmentationExplorer


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def _changes(base: list[dict], n: int) -> list[tuple[str, object]]:
    """Control changes a user makes: slide a probability, widen a range, ask for new draws."""
    affine = next(i for i, t in enumerate(base) if t["name"] == "Affine")
    out: list[tuple[str, object]] = []
    for k in range(n):
        steps = json.loads(json.dumps(base))
        if k % 3 == 0:
            steps[0]["p"] = round(0.1 + 0.8 * ((k * 7) % 10) / 10, 2)
            out.append(("transforms", steps))
        elif k % 3 == 1:
            steps[affine]["params"]["rotate"] = [-(5 + k % 25), 5 + k % 25]
            out.append(("transforms", steps))
        else:
            out.append(("seed", k))
    return out


def explorer_latency(images: list[np.ndarray], size: int, n_changes: int) -> dict:
    start = time.perf_counter()
    w = AugmentationExplorer(images, pipeline=preset("medium", size), draws=1)
    build_s = time.perf_counter() - start
    stamps: list[float] = []
    # render_ms is set right after previews/applied, inside the hold_sync block whose end
    # sends them; reset to -1 before each change so that every update notifies.
    w.observe(lambda change: stamps.append(time.perf_counter()), names="render_ms")
    base = w.transforms
    latency, handler = [], []
    for k, (name, value) in enumerate(_changes(base, n_changes + 5)):
        w.render_ms = -1.0
        stamps.clear()
        start = time.perf_counter()
        setattr(w, name, value)
        done = time.perf_counter()
        assert w.error == "" and len(stamps) == 1, (w.error, stamps)
        if k >= 5:  # warm-up: first draws of each kind, caches
            latency.append(stamps[0] - start)
            handler.append(done - start)
    return {
        "thumbnails": len(w.previews),
        "size": size,
        "changes": n_changes,
        "first_render_ms": round(build_s * 1000, 1),
        "until_previews": _percentiles(latency),
        "whole_update": _percentiles(handler),
        "mean_thumbnail_kb": round(sum(map(len, w.previews)) / len(w.previews) / 1024, 1),
    }


class _GaussNoise(torch.nn.Module):
    """Gaussian noise on uint8 images (v2.GaussianNoise takes float images only)."""

    def __init__(self, std_range: tuple[float, float]) -> None:
        super().__init__()
        self.std_range = std_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = float(torch.empty(1).uniform_(*self.std_range)) * 255
        return (x.float() + torch.randn_like(x, dtype=torch.float32) * std).clamp(0, 255).byte()


def torchvision_medium(size: int) -> v2.Compose:
    """torchvision v2 steps matching ``preset("medium", size)`` (letterbox, fill 0)."""
    return v2.Compose(
        [
            v2.Resize(size=None, max_size=size, antialias=True),  # longer side to size
            v2.CenterCrop(size),  # pads the shorter side with 0: letterbox
            v2.RandomHorizontalFlip(0.5),
            v2.RandomApply(
                [v2.RandomAffine(degrees=15, translate=(0.0625, 0.0625), scale=(0.9, 1.1))], p=0.5
            ),
            v2.RandomApply([v2.ColorJitter(brightness=0.2, contrast=0.2)], p=0.5),
            # HueSaturationValue(10, 20, 10): OpenCV hue is 0-179, so 10 = 0.056 of a turn.
            v2.RandomApply([v2.ColorJitter(brightness=0.04, saturation=0.2, hue=0.056)], p=0.3),
            v2.RandomApply(
                [
                    v2.RandomChoice(
                        [v2.GaussianBlur(5, sigma=(0.1, 2.0)), _GaussNoise((0.02, 0.08))]
                    )
                ],
                p=0.2,
            ),
            v2.RandomErasing(p=0.2, scale=(0.01, 0.04), ratio=(0.5, 2.0), value=0),
        ]
    )


def throughput(images: list[np.ndarray], size: int, repeats: int) -> dict:
    albu = preset("medium", size).train
    tv = torchvision_medium(size)
    tensors = [torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))) for im in images]
    n = len(images) * repeats
    for im, t in zip(images[:4], tensors[:4], strict=True):  # warm-up
        albu(image=im)
        tv(t)
    start = time.perf_counter()
    for _ in range(repeats):
        for im in images:
            out = albu(image=im)["image"]
    albu_s = time.perf_counter() - start
    assert out.shape == (size, size, 3)
    start = time.perf_counter()
    for _ in range(repeats):
        for t in tensors:
            out_t = tv(t)
    tv_s = time.perf_counter() - start
    assert tuple(out_t.shape) == (3, size, size)
    return {
        "images": n,
        "albumentations_medium_images_per_s": round(n / albu_s, 1),
        "torchvision_v2_medium_images_per_s": round(n / tv_s, 1),
        "albumentations_over_torchvision": round(tv_s / albu_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None, help="image folder (default: embedded digits)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--throughput-size", type=int, default=224)
    parser.add_argument("--throughput-images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    df = readable(load_images(args.data or digits()))
    latency = explorer_latency(sample_images(df, 8, seed=0).arrays, args.size, args.changes)
    pool = sample_images(df, args.throughput_images, seed=1).arrays
    speed = throughput(pool, args.throughput_size, args.repeats)
    heights, widths = zip(*(im.shape[:2] for im in pool), strict=True)
    print(
        json.dumps(
            {
                "bench": "augment",
                "data": args.data or "digits (embedded)",
                "median_image_hw": [int(np.median(heights)), int(np.median(widths))],
                "explorer": latency,
                "explorer_p50_target_ms": 100,
                "throughput_size": args.throughput_size,
                "throughput": speed,
                "albumentations": A.__version__,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "machine": platform.machine(),
                "python": platform.python_version(),
                "load_average_1min": round(os.getloadavg()[0], 2),  # others' work slows it
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

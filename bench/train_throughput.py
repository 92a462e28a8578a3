"""Fine-tuning throughput: cvnb's fastai learner vs a plain PyTorch loop, same run.

Same model architecture and initial weights, same images (already on disk, read through
cvnb's reader), same image size, batch size and optimizer family. Prints one JSON object.

    .venv/bin/python bench/train_throughput.py [--data FOLDER] [--img-size 64] [--bs 64]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelValidException
from torch.utils.data import DataLoader, Dataset

from cvnb.data import load_images, read_image, readable
from cvnb.datasets import digits
from cvnb.train import make_learner


class _Images(Dataset):
    def __init__(self, df, classes, size, mean, std):
        self.paths, self.size = df.path.tolist(), size
        index = {c: i for i, c in enumerate(classes)}
        self.targets = [index[str(lbl)] for lbl in df.label]
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        img = read_image(self.paths[i]).resize((self.size, self.size))
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (x - self.mean) / self.std, self.targets[i]


class _SkipValidation(Callback):
    """Time training alone: the plain loop has no per-epoch validation pass either."""

    def before_validate(self):
        raise CancelValidException()


def _time_fastai(learn, epochs: int) -> float:
    with learn.no_bar(), learn.no_logging(), learn.added_cbs(_SkipValidation()):
        start = time.perf_counter()
        learn.fit_one_cycle(epochs, 1e-3)
    return time.perf_counter() - start


def _time_plain(model, loader, epochs: int) -> float:
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=epochs * len(loader))
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            sched.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None, help="image folder (default: embedded digits)")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--bs", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-images", type=int, default=1024)
    args = parser.parse_args()

    df = readable(load_images(args.data or digits()))
    train = df[df.split == "train"].sample(frac=1.0, random_state=0).head(args.max_images)
    table = pd.concat([train, df[df.split == "valid"].head(64)])
    learn = make_learner(table, img_size=args.img_size, bs=args.bs, seed=0)
    cfg = learn.cvnb_config
    learn.unfreeze()  # both loops train every layer (a pretrained learner starts frozen)
    model = copy.deepcopy(learn.model)
    ds = _Images(train, cfg.classes, args.img_size, cfg.mean, cfg.std)
    loader = DataLoader(ds, batch_size=args.bs, shuffle=True, drop_last=True, num_workers=0)
    n_seen = args.epochs * len(loader) * args.bs  # both loops drop the last partial batch

    # Warm up oneDNN's kernel choices once, so whichever loop runs first is not penalized.
    _time_plain(copy.deepcopy(model), [next(iter(loader))], 1)
    plain_s = _time_plain(model, loader, args.epochs)
    fastai_s = _time_fastai(learn, args.epochs)
    print(
        json.dumps(
            {
                "bench": "train_throughput",
                "data": args.data or "digits (embedded)",
                "arch": cfg.arch,
                "img_size": args.img_size,
                "batch_size": args.bs,
                "epochs": args.epochs,
                "train_images": len(train),
                "images_seen": n_seen,
                "cvnb_learner_images_per_s": round(n_seen / fastai_s, 1),
                "plain_pytorch_images_per_s": round(n_seen / plain_s, 1),
                "cvnb_over_plain": round(plain_s / fastai_s, 3),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "machine": platform.machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

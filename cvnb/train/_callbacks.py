"""The callbacks behind :func:`cvnb.train.fit`: history across phases, trackers, BatchNorm."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.tracker import TrackerCallback


class KeepBatchNormStats(Callback):
    """Training with BatchNorm on its running statistics: eval mode for every BatchNorm layer.

    Their affine weights still receive gradients and train; only the normalization stays
    the one the pretrained (or probed) network was built on.
    """

    order = 1  # after TrainEvalCallback (order -10) has put the model in train mode

    def before_batch(self):
        if self.training:
            for module in self.learn.model.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()


class History(Callback):
    """Per-epoch rows across several ``fit`` calls (fastai's recorder resets on each)."""

    order = 55  # after the Recorder (50) has the epoch's values, before trackers (60+) stop

    def __init__(self):
        self.rows: list[dict] = []
        self.phase = "all"

    def before_epoch(self):
        self.t0 = time.perf_counter()

    def after_epoch(self):
        names = self.recorder.metric_names[1:-1]  # without 'epoch' and 'time'
        values = dict(zip(names, self.recorder.values[-1], strict=False))
        row = {"epoch": len(self.rows), "phase": self.phase, **values}
        row["lr"] = float(self.opt.hypers[-1]["lr"])
        row["time_s"] = time.perf_counter() - self.t0
        self.rows.append(row)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows).astype({"epoch": int})


def lower_is_better(monitor: str) -> bool:
    return "loss" in monitor or "error" in monitor


def tracker_callbacks(learn, patience, save_best, monitor, out, events) -> list[Callback]:
    cbs: list[Callback] = []
    if save_best:
        folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="cvnb-fit-"))
        cbs.append(SaveBest(folder / "best.pth", monitor=monitor, events=events))
    if patience is not None:
        cbs.append(EarlyStop(patience, monitor=monitor, events=events))
    return cbs


class EarlyStop(TrackerCallback):
    """fastai's ``EarlyStoppingCallback`` without printing; patience counts across phases."""

    order = TrackerCallback.order + 3

    def __init__(self, patience: int, *, monitor: str, events: list[str]):
        super().__init__(monitor=monitor, reset_on_fit=False)
        self.patience, self.events, self.wait, self.stopped = patience, events, 0, False

    def after_epoch(self):
        super().after_epoch()
        self.wait = 0 if self.new_best else self.wait + 1
        if self.wait >= self.patience:
            self.stopped = True
            self.events.append(
                f"early stop after epoch {self.epoch}: no better {self.monitor} "
                f"for {self.wait} epoch(s)"
            )
            raise CancelFitException()


class SaveBest(TrackerCallback):
    """fastai's ``SaveModelCallback`` without printing: atomic writes into the run folder."""

    order = TrackerCallback.order + 1

    def __init__(self, path: Path, *, monitor: str, events: list[str]):
        super().__init__(monitor=monitor, reset_on_fit=False)
        self.path, self.events, self.saved = path, events, False

    def after_epoch(self):
        super().after_epoch()
        if self.new_best:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            torch.save(self.learn.model.state_dict(), tmp)
            os.replace(tmp, self.path)
            self.saved = True
            self.events.append(f"best {self.monitor} {self.best:.4g} at epoch {self.epoch}: saved")

    def after_fit(self):
        super().after_fit()
        if self.saved:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            self.learn.model.load_state_dict(state)


class QuietPlateau(TrackerCallback):
    """fastai's ``ReduceLROnPlateau`` without printing."""

    order = TrackerCallback.order + 2

    def __init__(self, *, monitor, events, patience=1, factor=10.0, min_lr=0.0, min_delta=0.0):
        super().__init__(monitor=monitor, min_delta=min_delta)
        self.patience, self.factor, self.min_lr, self.events = patience, factor, min_lr, events

    def before_fit(self):
        self.wait = 0
        super().before_fit()

    def after_epoch(self):
        super().after_epoch()
        self.wait = 0 if self.new_best else self.wait + 1
        if self.wait >= self.patience:
            old = self.opt.hypers[-1]["lr"]
            for h in self.opt.hypers:
                h["lr"] = max(h["lr"] / self.factor, self.min_lr)
            self.wait = 0
            if self.opt.hypers[-1]["lr"] < old:
                new = self.opt.hypers[-1]["lr"]
                self.events.append(f"epoch {self.epoch}: {self.monitor} on a plateau, lr {new:.3g}")

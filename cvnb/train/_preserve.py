"""Put a learner back as it was: weights, optimizer, recorder, modes and random generators."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import torch
from fastai.optimizer import Optimizer
from fastai.torch_core import set_seed

if TYPE_CHECKING:
    from fastai.learner import Learner

_LEARNER_ATTRS = ("model_dir", "epoch", "n_epoch", "iter", "n_iter", "train_iter", "pct_train")
_RECORDER_ATTRS = ("lrs", "iters", "losses", "values", "metric_names", "log")


class LearnerSnapshot:
    """A learner's state in memory, to put back any number of times (:meth:`restore`).

    Holds the weights and buffers, ``requires_grad`` flags, gradients, train/eval mode of
    every module, the optimizer (same object; per-parameter state, hyper-parameters and
    ``frozen_idx``; or None when there was none), the recorder's curves, loop counters,
    ``model_dir`` and the random number generators (Python, numpy, torch, CUDA, the
    loaders'). The one snapshot behind :func:`preserved_learner`, the range test and
    :func:`cvnb.train.find_batch_size`.
    """

    def __init__(self, learn: Learner):
        self.learn = learn
        model = learn.model
        self.params = list(model.parameters())
        self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.flags = [p.requires_grad for p in self.params]
        self.grads = [None if p.grad is None else p.grad.detach().clone() for p in self.params]
        self.modes = [m.training for m in model.modules()]
        self.opt = learn.opt
        self.opt_saved = _opt_snapshot(self.opt)
        self.attrs = {a: copy.copy(getattr(learn, a)) for a in _LEARNER_ATTRS if hasattr(learn, a)}
        recorder = getattr(learn, "recorder", None)
        self.rec = {
            a: copy.copy(getattr(recorder, a)) for a in _RECORDER_ATTRS if hasattr(recorder, a)
        }
        self.rngs = _rng_snapshot(learn)

    def restore(self) -> None:
        """Put everything back (the snapshot stays valid for another restore)."""
        learn, model = self.learn, self.learn.model
        _rng_restore(learn, self.rngs)
        with torch.no_grad():
            model.load_state_dict(self.weights)
        for p, flag, grad in zip(self.params, self.flags, self.grads, strict=True):
            p.requires_grad_(flag)
            p.grad = None if grad is None else grad.clone()  # steps zero grads in place
        for m, mode in zip(model.modules(), self.modes, strict=True):
            m.training = mode
        learn.opt = self.opt
        _opt_restore(self.opt, self.opt_saved)
        for a, v in self.attrs.items():
            setattr(learn, a, v)
        recorder = getattr(learn, "recorder", None)
        for a, v in self.rec.items():
            setattr(recorder, a, copy.copy(v))


@contextmanager
def preserved_learner(learn: Learner, *, seed: int | None = None) -> Iterator[Learner]:
    """Snapshot a learner in memory and put it back on exit, even after an exception.

    Restores everything a :class:`LearnerSnapshot` holds: the weights and buffers,
    ``requires_grad`` flags, gradients, train/eval mode of every module, the optimizer
    (same object; per-parameter state, hyper-parameters and ``frozen_idx``; or None when
    there was none), the recorder's curves, loop counters, ``model_dir`` and the random
    number generators. Inside, with ``seed``, every generator (and the training loader's
    shuffle) is seeded.

    Args:
        learn: The fastai ``Learner``.
        seed: Seed to set inside the block (None leaves the generators as they are).
    """
    snapshot = LearnerSnapshot(learn)
    try:
        if seed is not None:
            set_seed(seed)
            for dl in _loaders(learn):
                dl.rng = random.Random(seed)
        yield learn
    finally:
        snapshot.restore()


def _clone(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clone(v) for v in obj]
    return copy.copy(obj)


def _opt_snapshot(opt) -> dict | None:
    if opt is None:
        return None
    if isinstance(opt, Optimizer):
        return {
            "state": [_clone(opt.state[p]) for p, *_ in opt.all_params()],
            "hypers": [dict(h) for h in opt.hypers],
            "frozen_idx": opt.frozen_idx,
        }
    return {"state_dict": _clone(opt.state_dict())}  # OptimWrapper around a torch optimizer


def _opt_restore(opt, saved: dict | None) -> None:
    if opt is None or saved is None:
        return
    if isinstance(opt, Optimizer):
        for (p, *_), state in zip(opt.all_params(), saved["state"], strict=True):
            opt.state[p] = _clone(state)
        for hyper, values in zip(opt.hypers, saved["hypers"], strict=True):
            hyper.clear()
            hyper.update(values)
        opt.frozen_idx = saved["frozen_idx"]
    else:
        opt.load_state_dict(_clone(saved["state_dict"]))


def _loaders(learn: Learner) -> list:
    return [dl for dl in getattr(learn.dls, "loaders", []) if hasattr(dl, "rng")]


def _rng_snapshot(learn: Learner) -> dict:
    return {
        "random": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "loaders": [(dl, dl.rng.getstate()) for dl in _loaders(learn)],
    }


def _rng_restore(learn: Learner, saved: dict) -> None:
    random.setstate(saved["random"])
    np.random.set_state(saved["numpy"])
    torch.set_rng_state(saved["torch"])
    if saved["cuda"] is not None:
        torch.cuda.set_rng_state_all(saved["cuda"])
    for dl, state in saved["loaders"]:
        dl.rng = random.Random()
        dl.rng.setstate(state)

"""Batch size: the largest power of two that fits, the fastest per image, and accumulation."""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass

import pandas as pd
import torch
from fastai.callback.training import GradientAccumulation
from fastai.learner import Learner
from tqdm.auto import tqdm

from cvnb.device import pick_device

from ._memory import CpuMeter, CudaMeter
from ._preserve import LearnerSnapshot

BATCH_COLUMNS = ["bs", "peak_mem_mb", "img_per_s", "fits", "measured"]


@dataclass
class BatchSizeResult:
    """The result of :func:`find_batch_size`.

    Attributes:
        table: One row per power of two tried, ascending. Columns: ``bs``; ``peak_mem_mb``
            (memory one training step at that batch added on top of what the process held
            before, in MiB); ``img_per_s`` (images per second of training steps; NaN when not
            run); ``fits`` (peak within the budget); ``measured`` (False where the peak was
            extrapolated from the smaller batches instead of risking running out of memory).
        largest: The largest batch size that fits (None if none does).
        fastest: The batch size with the most images per second among those that fit.
        budget_mb: The memory budget the peaks were compared against.
        device: ``"cpu"`` or the CUDA device the learner's model is on.
        advice: What to do with it, in words.
    """

    table: pd.DataFrame
    largest: int | None
    fastest: int | None
    budget_mb: float
    device: str
    advice: str

    def plot(self, ax=None):
        """Images per second (bars) and peak memory against the budget, per batch size."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        t = self.table
        labels = t["bs"].astype(str)
        colors = ["C0" if f else "C3" for f in t["fits"]]
        ax.bar(labels, t["img_per_s"].fillna(0), color=colors)
        ax.set_xlabel("batch size (red: over the memory budget)")
        ax.set_ylabel("training images / s")
        mem = ax.twinx()
        mem.plot(labels, t["peak_mem_mb"], "k.-", label="peak memory")
        mem.axhline(self.budget_mb, color="C3", ls="--", label="budget")
        mem.set_ylabel("MiB")
        mem.legend(fontsize=8, loc="upper left")
        return ax


@dataclass
class AccumulationPlan:
    """The result of :func:`accumulate_to`.

    Attributes:
        n_acc: fastai ``GradientAccumulation(n_acc)``: images to accumulate before each step.
        batch_size: The physical batch (``learn.dls.train.bs``).
        steps_per_update: Physical batches per optimizer step.
        effective_bs: Images per optimizer step (``steps_per_update * batch_size``).
        lr_advice: How to choose the learning rate with it, in words.
    """

    n_acc: int
    batch_size: int
    steps_per_update: int
    effective_bs: int
    lr_advice: str


def find_batch_size(
    learn: Learner,
    *,
    max_bs: int = 256,
    min_bs: int = 2,
    memory_budget: float | None = None,
    repeats: int = 2,
    progress: bool = True,
) -> BatchSizeResult:
    """Try powers of two from ``min_bs`` to ``max_bs`` and measure each one's training step.

    One step is what ``fit`` does per batch: forward in train mode, the learner's loss,
    backward, and a step of a fresh optimizer from ``learn.opt_func`` (its state, e.g.
    Adam's two moments per parameter, takes memory too). The batch is one real training
    batch, repeated to each size. Afterwards the learner is as before: weights and
    BatchNorm statistics, gradients, train/eval mode, torch's random state; ``learn.opt``
    and ``learn.dls`` are never touched.

    How memory is measured:

    - **GPU** (the model is on CUDA): by trying; the peak is
      ``torch.cuda.max_memory_allocated()`` over the step, and an out-of-memory error marks
      the size as not fitting. The default budget is 90 % of the free device memory.
    - **CPU**: the peak resident memory of this process minus the resident memory before the
      sweep, so it counts what the step needs, whatever allocator serves it. On Linux the
      kernel's exact peak (``VmHWM``, reset before each step through
      ``/proc/self/clear_refs``); on macOS and Windows the resident size polled every
      millisecond during the step (``psutil``); without either, speed only (a warning
      says so, and ``peak_mem_mb`` is NaN). The default budget is half of the memory
      available (the machine is shared; data loading needs memory too). Before a step that would exceed the budget if memory grows
      linearly with the batch, as activations do, the size is not run; its row is
      extrapolated (``measured == False``).

    Timings are medians of ``repeats`` steps after the memory step (which warms up).

    Args:
        learn: A fastai ``Learner`` (e.g. from :func:`cvnb.train.make_learner`).
        max_bs: Largest batch size to try.
        min_bs: Smallest batch size to try (rounded up to a power of two). 2 by default:
            BatchNorm cannot train on one image whose feature map has shrunk to 1×1.
        memory_budget: Budget in MiB (default: see above).
        repeats: Timed steps per batch size.
        progress: Show a progress bar over the sizes.

    Returns:
        A :class:`BatchSizeResult`.

    Raises:
        ValueError: ``min_bs``/``max_bs``/``repeats`` out of range, or the model cannot
            train at ``min_bs`` (BatchNorm with one value per channel): raise ``min_bs``.

    Example:
        >>> res = find_batch_size(learn, max_bs=64)  # doctest: +SKIP
        >>> res.largest, res.fastest  # doctest: +SKIP
        (64, 32)
    """
    if not 1 <= min_bs <= max_bs:
        raise ValueError(f"need 1 <= min_bs <= max_bs, got min_bs={min_bs}, max_bs={max_bs}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    sizes = [2**k for k in range(math.ceil(math.log2(min_bs)), int(math.log2(max_bs)) + 1)]
    model = learn.model
    device = pick_device(learn=learn)
    xb, yb = _one_batch(learn, device)
    saved = LearnerSnapshot(learn)
    rows: list[dict] = []
    meter = None
    try:
        # One untimed step first: one-off allocations (kernel caches, lazy imports) are not
        # the batch's. On a GPU an out-of-memory error here shows in the first row instead.
        opt = learn.opt_func(learn.splitter(model), lr=1e-6)
        with contextlib.suppress(torch.cuda.OutOfMemoryError):
            _warm_up(learn, opt, _tile(xb, sizes[0]), _tile(yb, sizes[0]))
        del opt
        saved.restore()
        meter = CudaMeter(device) if device.type == "cuda" else CpuMeter()
        budget = float(memory_budget) if memory_budget is not None else meter.default_budget()
        for bs in tqdm(sizes, desc="batch sizes", disable=not progress):
            predicted = _extrapolate(rows, bs) if meter.extrapolates else None
            if predicted is not None and predicted > budget:
                rows.append(_row(bs, predicted, float("nan"), False, False))
                break
            x, y = _tile(xb, bs), _tile(yb, bs)
            opt = learn.opt_func(learn.splitter(model), lr=1e-6)
            peak = meter.peak(_train_step, learn, opt, x, y)
            fits = peak is not None and not peak > budget  # NaN: memory not measured
            speed = bs / _median_step(learn, opt, x, y, device, repeats) if fits else float("nan")
            rows.append(_row(bs, peak if peak is not None else float("nan"), speed, fits, True))
            del opt
            saved.restore()
            if not fits:
                break
    finally:
        saved.restore()
        if meter is not None:
            meter.release()
    table = pd.DataFrame(rows, columns=BATCH_COLUMNS)
    ok = table[table["fits"]]
    largest = int(ok["bs"].max()) if len(ok) else None
    fastest = int(ok.loc[ok["img_per_s"].idxmax(), "bs"]) if len(ok) else None
    advice = _batch_advice(table, largest, fastest, budget, max_bs, device)
    return BatchSizeResult(table, largest, fastest, budget, str(device), advice)


def accumulate_to(
    learn: Learner, effective_bs: int, *, lr: float | None = None
) -> AccumulationPlan:
    """Train with ``effective_bs`` images per optimizer step through gradient accumulation.

    Adds fastai's ``GradientAccumulation(n_acc=effective_bs)`` to the learner (replacing one
    added before): gradients of successive physical batches add up, each scaled so that the
    sum is the mean over ``effective_bs`` images, and the optimizer steps once per
    ``effective_bs`` images. For layers that treat images independently this is the gradient
    of one large batch. BatchNorm is the exception: in train mode it normalizes with the
    statistics of each *physical* batch, so small physical batches still give noisy
    normalization (and running statistics), which accumulation does not change.

    Args:
        learn: The fastai ``Learner``; its ``dls.train.bs`` is the physical batch.
        effective_bs: Images per optimizer step; a multiple of the physical batch (otherwise
            fastai steps after the first multiple above it).
        lr: A rate tuned at the physical batch; the advice then scales it for you.

    Returns:
        An :class:`AccumulationPlan` with the learning-rate advice.

    Raises:
        ValueError: ``effective_bs`` smaller than the physical batch.

    Example:
        >>> plan = accumulate_to(learn, 64)  # doctest: +SKIP
        >>> plan.steps_per_update, plan.n_acc  # doctest: +SKIP
        (4, 64)
    """
    bs = int(learn.dls.train.bs)
    if effective_bs < bs:
        raise ValueError(
            f"effective_bs={effective_bs} is smaller than the physical batch {bs}; "
            "lower learn.dls.train.bs instead of accumulating"
        )
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, GradientAccumulation)])
    learn.add_cb(GradientAccumulation(n_acc=effective_bs))
    steps = math.ceil(effective_bs / bs)
    return AccumulationPlan(effective_bs, bs, steps, steps * bs, _lr_advice(bs, steps, lr))


def _lr_advice(bs: int, k: int, lr: float | None) -> str:
    eff = k * bs
    text = (
        f"Each optimizer step now sees {eff} images ({k} batches of {bs}), with the mean "
        f"gradient over all {eff}: a learning rate tuned with accumulation on (run the LR "
        f"finder after accumulate_to) applies unchanged. A rate tuned at the physical batch "
        f"of {bs} should grow with the batch: by {k}x (linear rule, SGD; Goyal et al. 2017) "
        f"or by {math.sqrt(k):.2g}x (square-root rule, usual for Adam)"
    )
    if lr is not None:
        text += f": {lr:.3g} becomes {lr * k:.3g} (linear) or {lr * math.sqrt(k):.3g} (sqrt)"
    return text + (
        f". An epoch now has {k}x fewer optimizer steps; on a small dataset train more "
        "epochs. BatchNorm still normalizes over each physical batch of "
        f"{bs}, so accumulation does not fix BatchNorm's noise at tiny batches."
    )


def _batch_advice(table, largest, fastest, budget, max_bs, device) -> str:
    if largest is None:
        return (
            f"no batch size from {int(table['bs'].min())} fits the {budget:.0f} MiB budget: "
            "lower img_size, pick a smaller backbone (compare_backbones) or raise memory_budget"
        )
    text = f"bs={largest} is the largest power of two that fits {budget:.0f} MiB"
    if largest == max_bs:
        text += f" (the largest tried; max_bs={max_bs} may be raised)"
    text += (
        f"; bs={fastest} trains the most images per second. Use it with "
        f"make_learner(..., bs={fastest}) or learn.dls.train.bs = {fastest}"
    )
    if device.type == "cpu":
        text += (
            ". On a CPU speed per image stops improving at small batches, and a small "
            "dataset gets more optimizer steps per epoch from a smaller batch"
        )
    return text + "; for a larger batch per step than fits, use accumulate_to(learn, n)."


def _row(bs, peak, speed, fits, measured) -> dict:
    return {"bs": bs, "peak_mem_mb": peak, "img_per_s": speed, "fits": fits, "measured": measured}


def _extrapolate(rows: list[dict], bs: int) -> float | None:
    """Peak at ``bs`` if memory grows linearly with the batch (activations do)."""
    done = [r for r in rows if r["measured"]]
    if len(done) < 2:
        return None
    (b0, m0), (b1, m1) = ((r["bs"], r["peak_mem_mb"]) for r in done[-2:])
    slope = max((m1 - m0) / (b1 - b0), 0.0)
    return m1 + slope * (bs - b1)


def _one_batch(learn: Learner, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.get_rng_state()
    try:
        xb, yb = learn.dls.train.one_batch()[:2]
    finally:
        torch.set_rng_state(rng)
    return xb.to(device), yb.to(device)


def _tile(t: torch.Tensor, bs: int) -> torch.Tensor:
    index = torch.arange(bs, device=t.device) % t.shape[0]
    return t[index].contiguous()


def _train_step(learn: Learner, opt, x: torch.Tensor, y: torch.Tensor) -> None:
    learn.model.train()
    loss = learn.loss_func(learn.model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()


def _warm_up(learn: Learner, opt, x: torch.Tensor, y: torch.Tensor) -> None:
    try:
        _train_step(learn, opt, x, y)
    except ValueError as err:
        if "Expected more than 1 value per channel" not in str(err):
            raise
        raise ValueError(
            f"the model cannot train on batches of {x.shape[0]} at {tuple(x.shape[2:])} px: "
            "a BatchNorm layer sees one value per channel there. Use min_bs=2 or more "
            "(or a larger img_size)"
        ) from err


def _median_step(learn, opt, x, y, device, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _train_step(learn, opt, x, y)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)

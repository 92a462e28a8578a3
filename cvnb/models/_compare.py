"""Compare backbones by what can be measured here: size, FLOPs, CPU speed, offline weights."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from ._backbone import create_backbone
from ._pretrained import offline_pretrained

#: Small, CPU-friendly timm backbones worth comparing first (ImageNet top-1 70–77 %).
DEFAULT_CANDIDATES = (
    "tf_efficientnet_lite0",
    "mobilenetv3_large_100",
    "mobilenetv4_conv_small",
    "efficientnet_b0",
    "resnet18",
    "convnext_atto",
)

COLUMNS = [
    "name",
    "params_m",
    "gflops",
    "latency_ms",
    "throughput",
    "offline_weights",
    "note",
]


@dataclass
class BackboneComparison:
    """The result of :func:`compare_backbones`.

    Attributes:
        table: One row per backbone, in the order given. Columns: ``name``; ``params_m``
            (millions of parameters, head included); ``gflops`` (forward pass of one image at
            ``img_size``, a multiply-add counted as 2 FLOPs, convolutions and matrix products
            only, by ``torch.utils.flop_counter``); ``latency_ms`` (median CPU time of one
            forward pass at batch 1, after warm-up); ``throughput`` (images per second of
            forward passes at batch ``batch_size``); ``offline_weights`` (ImageNet weights
            load here without network); ``note`` (what this row does not tell you).
        img_size: Square input side the figures were measured at.
        batch_size: Batch of the throughput column.
        threads: torch CPU threads used for the timings.
        num_classes: Outputs of the head the models were built with.
    """

    table: pd.DataFrame
    img_size: int
    batch_size: int
    threads: int
    num_classes: int

    def plot(self, ax=None):
        """Latency against FLOPs, one labelled point per backbone (marker size ∝ parameters).

        Filled markers have offline pretrained weights; hollow ones would train from scratch
        here. Accuracy is not on the plot: it cannot be measured without training each model.

        Returns:
            The matplotlib ``Axes``.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        t = self.table
        sizes = 30 + 25 * t["params_m"].to_numpy()
        for offline, marker_kw, label in (
            (True, {"color": "C0"}, "offline weights"),
            (False, {"facecolors": "none", "edgecolors": "C1"}, "no offline weights"),
        ):
            rows = t["offline_weights"] == offline
            if rows.any():
                ax.scatter(
                    t.loc[rows, "gflops"],
                    t.loc[rows, "latency_ms"],
                    s=sizes[rows.to_numpy()],
                    label=label,
                    **marker_kw,
                )
        for _, row in t.iterrows():
            ax.annotate(
                row["name"],
                (row["gflops"], row["latency_ms"]),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
        ax.set_xlabel(f"GFLOPs per image at {self.img_size} px")
        ax.set_ylabel(f"CPU latency, batch 1, {self.threads} thread(s) [ms]")
        ax.set_title("Backbones: cost (marker size ∝ parameters)")
        ax.legend(fontsize=8)
        return ax


def compare_backbones(
    names: Sequence[str] = DEFAULT_CANDIDATES,
    *,
    img_size: int = 224,
    batch_size: int = 16,
    num_classes: int = 10,
    repeats: int = 5,
    warmup: int = 2,
    threads: int | None = 1,
    seed: int = 0,
    progress: bool = True,
) -> BackboneComparison:
    """Measure timm backbones on this machine: parameters, FLOPs, CPU latency and throughput.

    Each model is built with random weights (``pretrained=False``), so nothing is ever
    downloaded; whether ImageNet weights are available offline is looked up separately
    (:func:`cvnb.models.offline_pretrained`). Speed is inference on the CPU in eval mode with
    gradients off: the median of ``repeats`` timed forward passes after ``warmup`` untimed
    ones. Timings depend on the machine and its load; compare rows of one table, not tables
    of different machines.

    What it cannot tell offline: accuracy on your data. That needs training each candidate
    (and, for most of them, weights from the network); the ``note`` column says so.

    Args:
        names: timm model names (see ``timm.list_models()``).
        img_size: Square input side in pixels.
        batch_size: Batch for the throughput column.
        num_classes: Outputs of the classification head (it changes parameters a little).
        repeats: Timed forward passes per measurement (the median is reported).
        warmup: Untimed forward passes before timing (kernel selection, caches).
        threads: torch CPU threads during the timings (restored afterwards); ``None`` keeps
            the current setting. One thread gives the steadiest numbers on a shared machine.
        seed: Seed of the random weights and the random input.
        progress: Show a progress bar over the names.

    Returns:
        A :class:`BackboneComparison` (``.table``, ``.plot()``).

    Raises:
        ValueError: A name is not a timm model, or a size/count is not positive.

    Example:
        >>> from cvnb.models import compare_backbones
        >>> cmp = compare_backbones(["resnet18", "tf_efficientnet_lite0"], img_size=64)
        >>> list(cmp.table.name)
        ['resnet18', 'tf_efficientnet_lite0']
    """
    names = list(names)
    if not names:
        raise ValueError("give at least one timm model name to compare")
    for label, value in (("img_size", img_size), ("batch_size", batch_size), ("repeats", repeats)):
        if value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value}")
    rows = []
    with _torch_threads(threads):
        used_threads = torch.get_num_threads()
        for name in tqdm(names, desc="backbones", disable=not progress):
            rows.append(_measure(name, img_size, batch_size, num_classes, repeats, warmup, seed))
    table = pd.DataFrame(rows, columns=COLUMNS)
    return BackboneComparison(table, img_size, batch_size, used_threads, num_classes)


def _measure(
    name: str,
    img_size: int,
    batch_size: int,
    num_classes: int,
    repeats: int,
    warmup: int,
    seed: int,
) -> dict:
    torch.manual_seed(seed)
    model = create_backbone(name, num_classes=num_classes, pretrained=False).eval()
    params = sum(p.numel() for p in model.parameters())
    generator = torch.Generator().manual_seed(seed)
    one = torch.randn(1, 3, img_size, img_size, generator=generator)
    batch = torch.randn(batch_size, 3, img_size, img_size, generator=generator)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            model(one)
        latency = _median_seconds(model, one, repeats, warmup)
        per_batch = _median_seconds(model, batch, repeats, min(warmup, 1))
    offline = offline_pretrained(name)
    note = "accuracy not measured (needs training)"
    if not offline:
        note += "; ImageNet weights need the network (offline: trains from scratch)"
    return {
        "name": name,
        "params_m": params / 1e6,
        "gflops": counter.get_total_flops() / 1e9,
        "latency_ms": latency * 1e3,
        "throughput": batch_size / per_batch,
        "offline_weights": offline,
        "note": note,
    }


def _median_seconds(model: nn.Module, x: torch.Tensor, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextmanager
def _torch_threads(threads: int | None):
    before = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be a positive integer or None, got {threads}")
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)

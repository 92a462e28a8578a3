"""A learner's raw logits on one split, and the temperature its probabilities use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cvnb.device import pick_device

_SPLITS = {"train": 0, "valid": 1}


def temperature_of(learn) -> float:
    """The temperature stored in ``learn.cvnb_config`` (1.0 when none was fitted)."""
    return float(getattr(getattr(learn, "cvnb_config", None), "temperature", 1.0))


def split_items(learn, split: str | pd.DataFrame) -> pd.DataFrame:
    """The rows of one split: ``"train"``, ``"valid"`` or a table with ``path`` and ``label``.

    Raises:
        ValueError: An unknown split name, a table without ``path``/``label`` or with labels
            that are not the learner's classes, or a split with no rows.
    """
    if isinstance(split, pd.DataFrame):
        missing = {"path", "label"} - set(split.columns)
        if missing:
            raise ValueError(
                f"the table lacks column(s) {sorted(missing)}; pass rows of the table from "
                "cvnb.data.load_images (e.g. df[df.split == 'test'])"
            )
        classes = [str(c) for c in learn.dls.vocab]
        unknown = sorted(set(split["label"].astype(str)) - set(classes))
        if unknown:
            raise ValueError(
                f"label(s) {unknown[:5]} are not classes of this learner; its classes are {classes}"
            )
        items, name = split.assign(label=split["label"].astype(str)), "given"
    elif split in _SPLITS:
        items, name = learn.dls[_SPLITS[split]].items, split
    else:
        raise ValueError(
            f"split must be one of {sorted(_SPLITS)} or a table of rows with 'path' and "
            f"'label' (e.g. df[df.split == 'test']), got {split!r}"
        )
    if len(items) == 0:
        raise ValueError(
            f"the {name} split has no rows: give the table a {name} split "
            "(cvnb.data.make_splits(df, valid_pct=0.2)) and rebuild the learner, or pass "
            "another split"
        )
    return items


def split_logits(learn, items: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw logits and class indices of ``items``, in their order.

    The images go through the deterministic validation-time pipeline (no random
    augmentation), on the learner's device, in eval mode; no activation is applied.

    Returns:
        ``(logits, targets)``: float32 ``(N, n_classes)`` and int64 ``(N,)``, on the CPU.
    """
    dl = learn.dls.test_dl(items, with_labels=True, device=pick_device(learn=learn))
    with learn.no_bar():
        logits, targets = learn.get_preds(dl=dl, act=_identity)
    return logits.float().cpu(), targets.as_subclass(torch.Tensor).long().cpu()


def softmax(logits: np.ndarray | torch.Tensor, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` over the last axis, as float64 numpy."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def calibrated_probs(learn, items: pd.DataFrame) -> torch.Tensor:
    """Probabilities of ``items`` with the learner's stored temperature applied.

    ``softmax(logits / T)`` with ``T`` from :func:`temperature_of`; with ``T = 1`` this is
    the plain softmax that ``learn.get_preds`` gives with cvnb's cross-entropy losses.
    """
    logits, _ = split_logits(learn, items)
    return torch.softmax(logits / temperature_of(learn), dim=1)


def _identity(x):
    return x

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


def split_items(learn, split: str = "valid", df: pd.DataFrame | None = None) -> pd.DataFrame:
    """The labelled rows of one split, from ``df``, the learner, or ``learn.cvnb_table``.

    ``"train"`` and ``"valid"`` without ``df`` are the learner's own images (its
    dataloaders'). Any other split comes from ``df`` or else the table the learner was built
    from (``learn.cvnb_table``, from :func:`cvnb.data.load_images`, e.g. split by
    :func:`cvnb.data.make_splits`), ``"test"`` included; unreadable rows (an ``error``) are
    left out.

    Raises:
        ValueError: An unknown split, a table without ``path``/``label``/``split``, labels
            that are not the learner's classes, or a split with no rows.
    """
    table = df if df is not None else getattr(learn, "cvnb_table", None)
    if df is None and split in _SPLITS:  # exactly the images the learner trained/validated on
        table = None
    if table is None:
        if split not in _SPLITS:
            raise ValueError(
                f"split must be one of {sorted(_SPLITS)} for the learner's own images, got "
                f"{split!r}; to measure another split of the table (e.g. 'test'), pass the "
                "table too: df=table"
            )
        items = learn.dls[_SPLITS[split]].items
    else:
        missing = {"path", "label", "split"} - set(table.columns)
        if missing:
            raise ValueError(
                f"the table lacks column(s) {sorted(missing)}; build it with "
                "cvnb.data.load_images(folder_or_csv) (and cvnb.data.make_splits for a test split)"
            )
        ok = table["error"].isna() if "error" in table.columns else True
        items = table[ok & (table["split"] == split)]
        items = items.assign(label=items["label"].astype(str)).reset_index(drop=True)
        classes = [str(c) for c in learn.dls.vocab]
        unknown = sorted(set(items["label"]) - set(classes))
        if unknown:
            raise ValueError(
                f"label(s) {unknown[:5]} of the {split} split are not classes of this learner; "
                f"its classes are {classes}"
            )
    if len(items) == 0:
        where = ""
        if table is not None:
            where = f" (the table's splits: {sorted(map(str, table['split'].dropna().unique()))})"
        raise ValueError(
            f"the {split} split has no rows{where}: carve one with cvnb.data.make_splits(df, "
            "valid_pct=0.2, test_pct=0.15) (and rebuild the learner for valid), or measure "
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

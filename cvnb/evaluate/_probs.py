"""Class probabilities of any table rows through a learner's deterministic pipeline.

Shared by the report, cross-validation and the ensemble: one loop, softmax of the logits,
optionally averaged with the horizontally flipped image (test-time augmentation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cvnb.device import pick_device

_SPLITS = {"train": 0, "valid": 1}


def readable_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``df`` whose image could be read (no ``error``), with a fresh index."""
    if "path" not in df.columns:
        raise ValueError(
            "the table lacks a 'path' column; build it with cvnb.data.load_images(folder_or_csv)"
        )
    ok = df["error"].isna() if "error" in df.columns else pd.Series(True, index=df.index)
    return df[ok].reset_index(drop=True)


def split_rows(learn, split: str, df: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of one split: from ``df`` (or ``learn.cvnb_table``) when given, else the dls.

    The learner's own dataloaders hold only train and valid, with only cvnb's columns; a
    table brings the ``test`` split and its extra columns.
    """
    table = df if df is not None else getattr(learn, "cvnb_table", None)
    if table is None:
        if split not in _SPLITS:
            raise ValueError(
                f"the learner holds only the train and valid splits; to evaluate {split!r}, "
                f"pass the table it came from: evaluation_report(learn, {split!r}, df=table)"
            )
        items = learn.dls[_SPLITS[split]].items
        return items.drop(columns="is_valid", errors="ignore").reset_index(drop=True)
    if "split" not in table.columns:
        raise ValueError("the table lacks a 'split' column; make one with cvnb.data.make_splits")
    rows = readable_rows(table[table["split"] == split])
    if rows.empty:
        present = sorted(map(str, table["split"].dropna().unique()))
        raise ValueError(
            f"the table has no readable rows with split == {split!r} (its splits: {present}); "
            "carve a test split with cvnb.data.make_splits(df, test_pct=0.15)"
        )
    return rows.assign(label=rows["label"].astype(str))


def class_probs(learn, rows: pd.DataFrame | list, *, tta: bool = False) -> np.ndarray:
    """Softmax probabilities ``(n, n_classes)`` for ``rows`` (a table with ``path``, or paths).

    Images go through the learner's validation pipeline (resize policy, normalisation, no
    random augmentation) on the learner's device, in eval mode and without gradients; the
    model's train/eval mode is restored afterwards. The logits are divided by the
    temperature :func:`cvnb.evaluate.fit_temperature` stored in ``learn.cvnb_config`` (1
    when none), as :func:`cvnb.evaluate.predictions` and an ONNX export do. With ``tta``
    each image's probabilities are averaged with those of its mirror image (flipped
    left-right after preprocessing).
    """
    import torch

    from ._logits import temperature_of

    if isinstance(rows, pd.DataFrame):
        items = rows[["path"]].reset_index(drop=True)
    else:
        items = pd.DataFrame({"path": [str(p) for p in rows]})
    n_classes = len(learn.dls.vocab)
    if items.empty:
        return np.zeros((0, n_classes), dtype=np.float32)
    temperature = temperature_of(learn)
    device = pick_device(learn=learn)
    dl = learn.dls.test_dl(items, with_labels=False, device=device)
    model = learn.model
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for batch in dl:
                x = batch[0]
                p = torch.softmax(model(x).float() / temperature, dim=1)
                if tta:
                    flipped = model(x.flip(-1)).float() / temperature
                    p = (p + torch.softmax(flipped, dim=1)) / 2
                out.append(p.cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()


def with_probs(rows: pd.DataFrame, probs: np.ndarray, classes: list[str]) -> pd.DataFrame:
    """``rows`` plus ``prediction``, ``prob``, ``prob_true``, ``loss`` and ``correct``.

    ``loss`` is the cross-entropy of the given label, ``-log prob_true`` (infinite for a
    label the model has no class for); ``prob_true`` and ``loss`` are NaN without a label.
    """
    top = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
    index = {c: i for i, c in enumerate(classes)}
    labels = rows["label"].astype(str).to_numpy() if "label" in rows.columns else None
    out = rows.reset_index(drop=True).assign(
        prediction=[classes[i] for i in top],
        prob=probs[np.arange(len(probs)), top].astype(np.float64),
    )
    if labels is None:
        return out
    col = np.array([index.get(lab, -1) for lab in labels], dtype=int)
    p_true = np.where(col >= 0, probs[np.arange(len(probs)), np.maximum(col, 0)], 0.0)
    with np.errstate(divide="ignore"):
        loss = -np.log(p_true.astype(np.float64))
    return out.assign(
        prob_true=p_true.astype(np.float64), loss=loss, correct=out["prediction"] == labels
    )

"""A learner's predictions as the dataset table, one row per image."""

from __future__ import annotations

import pandas as pd

from ._logits import calibrated_probs

_SPLITS = {"train": 0, "valid": 1}


def predictions(learn, split: str = "valid") -> pd.DataFrame:
    """Predict every image of one split and return the table with the results beside it.

    Both splits go through the deterministic validation-time pipeline (resize policy, no
    random augmentation), so the training images are predicted as an exported model would
    see them, and two calls give the same answer. The model runs in eval mode on the
    learner's device (:func:`cvnb.device.pick_device`), in the table's order.

    Args:
        learn: A ``Learner`` from :func:`cvnb.train.make_learner`.
        split: ``"valid"`` or ``"train"``.

    Returns:
        The split's rows (``path``, ``label``, ``split`` …) plus ``prediction`` (class name),
        ``prob`` (its probability, with the temperature that
        :func:`cvnb.evaluate.fit_temperature` stored in ``learn.cvnb_config`` applied) and
        ``correct`` (bool). ``cvnb.widgets.show_images`` shows the ``prediction`` column
        beside the labels.

    Example:
        >>> table = predictions(learn)  # doctest: +SKIP
        >>> table[~table.correct].head()  # the mistakes  # doctest: +SKIP
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
    items = learn.dls[_SPLITS[split]].items
    probs = calibrated_probs(learn, items)  # softmax(logits / learn.cvnb_config.temperature)
    top = probs.max(dim=1)
    vocab = list(learn.dls.vocab)
    table = items.drop(columns="is_valid", errors="ignore")
    table = table.assign(
        prediction=[str(vocab[i]) for i in top.indices.tolist()],
        prob=top.values.numpy(),
    )
    return table.assign(correct=table["prediction"] == table["label"]).reset_index(drop=True)

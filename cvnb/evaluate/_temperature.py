"""Temperature scaling: one scalar that makes a classifier's probabilities honest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._calibration import report_from_logits
from ._logits import split_items, split_logits, temperature_of

#: Search range of the temperature (log-uniform): wide enough for any trained classifier.
T_RANGE = (0.05, 20.0)


@dataclass
class TemperatureResult:
    """The outcome of :func:`fit_temperature`.

    Attributes:
        temperature: ``T`` fitted on the whole split (the one stored and exported).
        ece_before: Out-of-sample ECE without temperature scaling (``T = 1``), the mean of
            the two halves.
        ece_after: Out-of-sample ECE with the temperature fitted on the *other* half, mean of
            the two halves: the honest figure of what scaling buys.
        folds: One row per half measured: ``fold``, ``temperature`` (fitted on the other
            half), ``n_fit``, ``n_measured``, ``ece_before``, ``ece_after``, ``nll_before``,
            ``nll_after``.
        nll_before, nll_after: Mean NLL on the whole split at ``T = 1`` and at
            :attr:`temperature` (in sample).
        previous: The temperature stored before this fit.
        stored: Whether :attr:`temperature` was written to ``learn.cvnb_config``.
        split: The split fitted on.
        n: Images in it.
        bins: Confidence bins of the ECE figures.
    """

    temperature: float
    ece_before: float
    ece_after: float
    folds: pd.DataFrame
    nll_before: float
    nll_after: float
    previous: float
    stored: bool
    split: str
    n: int
    bins: int


def fit_temperature(
    learn,
    split: str = "valid",
    *,
    df: pd.DataFrame | None = None,
    bins: int = 15,
    seed: int = 0,
    store: bool = True,
) -> TemperatureResult:
    """Fit one temperature ``T > 0`` minimising the NLL of ``softmax(logits / T)``.

    ``T`` is fitted on the raw logits of the split (deterministic validation pipeline), so
    fitting twice gives the same ``T`` whatever was stored before. Scaling by one scalar
    never changes a prediction, only how confident it is. ECE before and after is measured
    out of sample: the split is halved (stratified by class, ``seed``), ``T`` is fitted on
    one half and ECE measured on the other, both ways, and the two are averaged. The
    temperature fitted on the whole split is stored in ``learn.cvnb_config.temperature``,
    where :func:`cvnb.evaluate.predictions`, :func:`cvnb.evaluate.calibration` and
    :func:`cvnb.export.export_onnx` (which folds it into the graph) read it.

    Args:
        learn: A ``Learner`` from :func:`cvnb.train.make_learner`.
        split: ``"valid"`` (the usual choice), ``"train"``, or with ``df`` any split of
            that table. Never the split you report final figures on (``"test"``).
        df: The dataset table (``path``, ``label``, ``split``) to take the split's rows
            from. Default: the learner's own images for ``"train"``/``"valid"``, the table
            it was built from (``learn.cvnb_table``) for any other split.
        bins: Confidence bins of the ECE figures.
        seed: Seed of the halving.
        store: Write the temperature into ``learn.cvnb_config`` (False: only report it).

    Returns:
        A :class:`TemperatureResult`.

    Raises:
        ValueError: The learner has no ``cvnb_config``, the split is unknown, empty, or has
            fewer than 4 images.

    Example:
        >>> result = fit_temperature(learn)  # doctest: +SKIP
        >>> result.temperature, result.ece_before, result.ece_after  # doctest: +SKIP
    """
    config = getattr(learn, "cvnb_config", None)
    if config is None:
        raise ValueError(
            "fit_temperature needs a Learner from cvnb.train.make_learner (the temperature "
            "is stored in learn.cvnb_config)"
        )
    items = split_items(learn, split, df)
    name = split
    if len(items) < 4:
        raise ValueError(
            f"fit_temperature needs at least 4 labelled images on the {name} split to fit "
            f"on one half and measure on the other; it has {len(items)}: give the split "
            "more images"
        )
    logits, targets = split_logits(learn, items)
    z, y = logits.numpy().astype(np.float64), targets.numpy()
    halves = _halves(y, seed)
    rows = []
    for fold, (fit_on, measure_on) in enumerate([halves, halves[::-1]]):
        t = fit_scalar_temperature(z[fit_on], y[fit_on])
        before = report_from_logits(z[measure_on], y[measure_on], bins=bins)
        after = report_from_logits(z[measure_on], y[measure_on], temperature=t, bins=bins)
        rows.append(
            {
                "fold": fold,
                "temperature": t,
                "n_fit": len(fit_on),
                "n_measured": len(measure_on),
                "ece_before": before.ece,
                "ece_after": after.ece,
                "nll_before": before.nll,
                "nll_after": after.nll,
            }
        )
    folds = pd.DataFrame(rows)
    temperature = fit_scalar_temperature(z, y)
    previous = temperature_of(learn)
    if store:
        config.temperature = temperature
    return TemperatureResult(
        temperature=temperature,
        ece_before=float(folds["ece_before"].mean()),
        ece_after=float(folds["ece_after"].mean()),
        folds=folds,
        nll_before=_nll(z, y, 1.0),
        nll_after=_nll(z, y, temperature),
        previous=previous,
        stored=store,
        split=name,
        n=len(y),
        bins=bins,
    )


def fit_scalar_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The ``T`` in :data:`T_RANGE` minimising the mean NLL of ``softmax(logits / T)``.

    The NLL is convex in ``1 / T``, hence unimodal in ``log T``: a golden-section search
    on ``log T`` finds its minimum to ~1e-9 relative precision, deterministically.
    """
    z, y = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo + (1 - ratio) * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _nll(z, y, np.exp(a)), _nll(z, y, np.exp(b))
    while hi - lo > 1e-9:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - ratio) * (hi - lo)
            fa = _nll(z, y, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _nll(z, y, np.exp(b))
    return float(np.exp((lo + hi) / 2))


def _nll(z: np.ndarray, y: np.ndarray, temperature: float) -> float:
    s = z / temperature
    top = s.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
    return float((log_norm - s[np.arange(len(y)), y]).mean())


def _halves(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of the indices, each class split evenly between them (seeded)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    rank = np.empty(len(labels), dtype=int)
    for cls in np.unique(labels):
        members = order[labels[order] == cls]
        rank[members] = np.arange(len(members))
    # Alternate within each class; odd class counts alternate which half gets the extra one.
    offset = {cls: i % 2 for i, cls in enumerate(np.unique(labels))}
    side = (rank + np.array([offset[c] for c in labels])) % 2
    return np.sort(np.flatnonzero(side == 0)), np.sort(np.flatnonzero(side == 1))

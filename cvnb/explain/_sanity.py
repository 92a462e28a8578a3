"""The model-randomisation sanity check (Adebayo et al. 2018).

A saliency map should depend on what the model learned. The check re-initialises the
classifier head of a *copy* of the model, then each layer group below it in turn (a
cascade down to the stem), redraws each map, and measures the Spearman rank correlation
with the map of the trained model. A method whose map still correlates (ρ ≥ 0.5) once the
head and the last stage are random is explaining the image (edges, the input itself),
not the model: it is flagged "not model-sensitive".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from cvnb.models import layer_groups

from ._explain import _budget, _check_methods, _Session
from ._gradcam import gradcam
from ._lime import lime_map
from ._model import ModelFn
from ._shap import shap_map

#: ρ at or above this after the head and the last stage are random: not model-sensitive.
THRESHOLD = 0.5


@dataclass
class SanityReport:
    """The result of :func:`sanity_check`.

    Attributes:
        table: One row per method and cascade step: ``method``, ``randomised``
            (``"head"``, ``"head+stage -1"``, ``"head+stage -2"`` … down to the stem),
            ``group`` (the layer group re-initialised at that step, e.g. ``"stage7"``) and
            ``spearman`` (rank correlation with the trained model's map; a map that became
            constant counts as 0).
        model_sensitive: Method → True when ρ < :data:`THRESHOLD` after the head and the
            last stage are randomised.
        target: The class explained.
        threshold: :data:`THRESHOLD`.
    """

    table: pd.DataFrame
    model_sensitive: dict[str, bool]
    target: str
    threshold: float = THRESHOLD
    maps: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)

    def plot(self):
        """ρ against the cascade step, one line per method (a matplotlib ``Figure``)."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 3.2))
        ax = fig.subplots()
        for method, rows in self.table.groupby("method", sort=False):
            ax.plot(rows["randomised"], rows["spearman"], marker="o", label=method)
        ax.axhline(self.threshold, color="grey", linestyle="--", linewidth=1)
        ax.set_ylabel("Spearman ρ with the trained map")
        ax.set_ylim(-1, 1)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig


def sanity_check(
    learn,
    image,
    methods: Sequence[str] = ("gradcam",),
    target=None,
    *,
    seed: int = 0,
    budgets: Mapping[str, int] | None = None,
) -> SanityReport:
    """Cascading model randomisation: do the maps change when the model is destroyed?

    Works on a deep copy of the model; the learner is not touched. shap and lime run in
    torch here (the copies are not exported), at their default budgets unless ``budgets``
    says otherwise: on a CPU that is slow at 224 px, so give small budgets or Grad-CAM
    alone.

    Args:
        learn: A ``Learner`` from :func:`cvnb.train.make_learner`.
        image: A path, a ``PIL.Image.Image`` or a table row (with ``path``).
        methods: Any of ``("gradcam", "shap", "lime")``.
        target: The class to explain (a name); None: the predicted class.
        seed: Seed of the re-initialisation (and of lime's sampling).
        budgets: Method → model calls, as in :func:`explain`.

    Returns:
        A :class:`SanityReport`.

    Example:
        >>> report = sanity_check(learn, "photo.jpg")  # doctest: +SKIP
        >>> report.model_sensitive
        {'gradcam': True}
    """
    methods = _check_methods(methods)
    budgets = dict(budgets or {})
    session = _Session(learn, image, target, "torch")
    arr, index = session.input.array, session.index

    def draw(method: str, model: nn.Module | None) -> np.ndarray:
        if method == "gradcam":
            return gradcam(learn, arr, index, model=model)[0]
        fn = ModelFn(learn, "torch", model=model)
        make = shap_map if method == "shap" else lime_map
        budget = _budget(method, budgets.get(method))
        return make(fn, arr, index, budget=budget, seed=seed)[1]  # signed: full ranking

    trained = {m: draw(m, None) for m in methods}
    maps = {m: [trained[m]] for m in methods}
    model = copy.deepcopy(learn.model)
    rows = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step, group in enumerate(reversed(layer_groups(model))):
            _reinitialise(model, group.param_names)
            label = "head" if step == 0 else f"head+stage -{step}"
            for m in methods:
                new = draw(m, model)
                maps[m].append(new)
                rows.append(
                    {
                        "method": m,
                        "randomised": label,
                        "group": group.name,
                        "spearman": _spearman(trained[m], new),
                    }
                )
    table = pd.DataFrame(rows, columns=["method", "randomised", "group", "spearman"])
    last = table[table["randomised"] == "head+stage -1"]
    if last.empty:  # a model with a head and no stage: judge on the head alone
        last = table[table["randomised"] == "head"]
    sensitive = {
        m: bool((last.loc[last["method"] == m, "spearman"] < THRESHOLD).all()) for m in methods
    }
    return SanityReport(table, sensitive, session.target, THRESHOLD, maps)


def _reinitialise(model: nn.Module, param_names: Sequence[str]) -> None:
    """Draw fresh weights for every module owning one of ``param_names``."""
    owners = sorted({name.rpartition(".")[0] for name in param_names})
    for owner in owners:
        module = model.get_submodule(owner)
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()  # BatchNorm: running statistics too
        else:
            for p in module.parameters(recurse=False):
                nn.init.normal_(p, std=0.02)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ of two maps; a map that became constant counts as 0 (no relation left)."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)

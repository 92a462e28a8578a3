"""explain / explain_one: Grad-CAM, SHAP and LIME maps of one image, scored alike."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from ._faithfulness import deletion_insertion, random_map
from ._gradcam import gradcam
from ._input import ModelInput, classes, model_input, target_index
from ._lime import LIME_NUM_SAMPLES, lime_map
from ._model import ModelFn, onnx_path, resolve_runtime
from ._result import Explanation, Explanations
from ._shap import SHAP_MAX_EVALS, shap_map

#: The methods, in the order they are shown (fastest first).
METHODS = ("gradcam", "shap", "lime")

#: Default budget per method: model calls per image (``max_evals`` for shap,
#: ``num_samples`` for lime; Grad-CAM has none). At these, each black-box map of a 224 px
#: image takes under 15 s on 2 CPU cores with onnxruntime (``bench/explain.py``).
DEFAULT_BUDGETS: dict[str, int | None] = {
    "gradcam": None,
    "shap": SHAP_MAX_EVALS,
    "lime": LIME_NUM_SAMPLES,
}


#: Random-map scores by (weights, image, class, seed, runtime): a viewer asking for one map
#: at a time scores the random map once per image.
_BASELINES: OrderedDict[tuple, dict[str, float]] = OrderedDict()


class _Session:
    """One image, its target and the model functions, shared by the methods of one call."""

    def __init__(self, learn, image, target, runtime: str):
        self.learn = learn
        self.input: ModelInput = model_input(learn, image)
        self.torch_fn = ModelFn(learn, "torch")
        probs = self.torch_fn(self.input.array)[0]
        self.torch_fn.n_calls = 0
        self.probs = {name: float(p) for name, p in zip(classes(learn), probs, strict=True)}
        self.index = target_index(learn, target, probs)
        self.target = classes(learn)[self.index]
        self.runtime = runtime
        self._fns: dict[str, ModelFn] = {"torch": self.torch_fn}
        self.export_seconds = 0.0

    def fn(self, method: str) -> ModelFn:
        """The model function the method runs on (``onnxruntime`` exported once, cached)."""
        name = resolve_runtime(self.learn, self.runtime, method)
        if name not in self._fns:
            start = time.perf_counter()
            self._fns[name] = ModelFn(self.learn, name)
            self.export_seconds = time.perf_counter() - start
        return self._fns[name]


def _check_methods(methods) -> list[str]:
    if isinstance(methods, str):
        methods = [methods]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    return list(methods)


def _budget(method: str, budget: int | None) -> int | None:
    if method == "gradcam":
        return None
    value = DEFAULT_BUDGETS[method] if budget is None else int(budget)
    if value < 2:
        raise ValueError(f"the {method} budget must be at least 2 model calls, got {budget}")
    return value


def _run(session: _Session, method: str, *, seed: int, budget: int | None, score: bool):
    arr, index = session.input.array, session.index
    budget = _budget(method, budget)
    info: dict = {"budget": budget}
    if method == "gradcam":
        start = time.perf_counter()
        heat, layer = gradcam(session.learn, arr, index)
        seconds, calls, runtime = time.perf_counter() - start, 1, "torch"
        info.update(layer=layer.module, group=layer.group, cells=layer.cells)
    else:
        fn = session.fn(method)
        info["export_seconds"] = round(session.export_seconds, 2)
        session.export_seconds = 0.0
        make = shap_map if method == "shap" else lime_map
        before, start = fn.n_calls, time.perf_counter()
        heat, _ = make(fn, arr, index, budget=budget, seed=seed)
        seconds, calls, runtime = time.perf_counter() - start, fn.n_calls - before, fn.runtime
    result = Explanation(
        method=method,
        target=session.target,
        heatmap=heat.astype(np.float32),
        image=session.input.shown,
        seconds=seconds,
        n_model_calls=calls,
        runtime=runtime,
        info=info,
    )
    if score:
        scorer = session.fn("shap")  # the fastest black-box path
        start = time.perf_counter()
        result.deletion_auc, result.insertion_auc = deletion_insertion(
            scorer, arr, heat, index, seed=seed
        )
        key = (onnx_path(session.learn).stem, hashlib.sha1(arr.tobytes()).hexdigest())
        key += (index, seed, scorer.runtime)
        if key not in _BASELINES:  # the same for every method of this image and class
            rd, ri = deletion_insertion(scorer, arr, random_map(heat.shape, seed), index, seed=seed)
            _BASELINES[key] = {"deletion": rd, "insertion": ri}
            while len(_BASELINES) > 256:
                _BASELINES.popitem(last=False)
        result.random_baseline = dict(_BASELINES[key])
        info.update(scoring_runtime=scorer.runtime, scoring_seconds=time.perf_counter() - start)
        if session.export_seconds:
            info["export_seconds"] = round(session.export_seconds, 2)
            session.export_seconds = 0.0
    return result


def explain_one(
    learn,
    image,
    method: str,
    target=None,
    *,
    seed: int = 0,
    budget: int | None = None,
    runtime: str = "auto",
    score: bool = True,
) -> Explanation:
    """One saliency map of one image, with its cost and faithfulness scores.

    The image goes through the learner's deterministic validation preprocessing (the same
    as the ONNX export); the map covers the model's input as it saw it, letterbox borders
    included.

    Args:
        learn: A ``Learner`` from :func:`cvnb.train.make_learner`.
        image: A path, a ``PIL.Image.Image`` or a table row (with ``path``).
        method: ``"gradcam"``, ``"shap"`` or ``"lime"`` (:data:`METHODS`).
        target: The class to explain (a name); None: the predicted class.
        seed: Seed of LIME's sampling, the random baseline and metric tie-breaking.
        budget: Model calls for shap (``max_evals``) or lime (``num_samples``); None:
            :data:`DEFAULT_BUDGETS`. Ignored by Grad-CAM.
        runtime: Where shap and lime run the model: ``"torch"``, ``"onnxruntime"`` (the
            learner is exported once into cvnb's cache, named by its weights), or
            ``"auto"``: onnxruntime on the CPU, torch on a GPU. Grad-CAM needs gradients
            and always runs in torch. ``Explanation.runtime`` says which path ran.
        score: Compute the deletion/insertion AUCs and the random baseline (False: leave
            them None, for a map shown at once and scored later).

    Returns:
        An :class:`Explanation`.

    Raises:
        cvnb.data.ImageReadError: The image cannot be read.
        ValueError: ``target`` is not a class (the message names the classes), an unknown
            method or runtime, or Grad-CAM on a model without a convolutional layer.

    Example:
        >>> e = explain_one(learn, "photo.jpg", "gradcam")  # doctest: +SKIP
        >>> e.overlay()  # doctest: +SKIP
    """
    (method,) = _check_methods(method)
    session = _Session(learn, image, target, runtime)
    return _run(session, method, seed=seed, budget=budget, score=score)


def explain(
    learn,
    image,
    target=None,
    methods: Sequence[str] = METHODS,
    *,
    seed: int = 0,
    budgets: Mapping[str, int] | None = None,
    runtime: str = "auto",
    progress: bool = True,
) -> Explanations:
    """Grad-CAM, SHAP and LIME maps of one image side by side, scored alike.

    Each map comes with its seconds and model calls, and its RISE deletion AUC (lower is
    better) and insertion AUC (higher is better) beside those of a random map. A map that
    does not beat the random one is not evidence of anything; see also
    :func:`sanity_check`.

    Args:
        learn: A ``Learner`` from :func:`cvnb.train.make_learner`.
        image: A path, a ``PIL.Image.Image`` or a table row (with ``path``).
        target: The class to explain (a name); None: the predicted class.
        methods: Any of :data:`METHODS`.
        seed: As in :func:`explain_one`.
        budgets: Method → model calls (shap ``max_evals``, lime ``num_samples``); missing
            methods get :data:`DEFAULT_BUDGETS`.
        runtime: As in :func:`explain_one`.
        progress: Show a progress bar over the methods.

    Returns:
        :class:`Explanations`: ``result["gradcam"]`` …, ``.plot()``, ``.table``.

    Example:
        >>> maps = explain(learn, table.iloc[0])  # doctest: +SKIP
        >>> maps.table  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    methods = _check_methods(methods)
    budgets = dict(budgets or {})
    unknown = sorted(set(budgets) - set(METHODS))
    if unknown:
        raise ValueError(f"budgets for unknown method(s) {unknown}; choose from {list(METHODS)}")
    session = _Session(learn, image, target, runtime)
    maps: dict[str, Explanation] = {}
    for method in tqdm(methods, desc="explain", unit="map", disable=not progress):
        maps[method] = _run(session, method, seed=seed, budget=budgets.get(method), score=True)
    return Explanations(
        maps,
        image=session.input.shown,
        original=session.input.original,
        target=session.target,
        probs=session.probs,
    )

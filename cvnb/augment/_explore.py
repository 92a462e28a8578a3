"""The augmentation explorer's logic: a transform catalog for generating controls, and
pipelines as JSON specs (checked by albumentations, turned into steps and, through
:mod:`cvnb.augment._code`, into code).

Pure logic: :class:`cvnb.widgets.AugmentationExplorer` is a thin view over
these functions and :mod:`cvnb.augment._preview` (the draws). A *spec* is the JSON form of a pipeline's steps that a widget trait can
hold: ``[{"name": "Affine", "p": 0.5, "params": {"rotate": [-15, 15]}}, …]``, with groups
written ``{"name": "OneOf", "p": 0.2, "transforms": [...]}``.
"""

from __future__ import annotations

import functools
import inspect
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import albumentations as A

from ._catalog import AUGMENTATIONS, make_transform, transform_params
from ._code import GROUPS, _literal, _param_kinds, _tuples, spec_code
from ._mix import check_mix
from ._pipeline import Pipeline
from ._resize import Fill, canonical_policy, check_fill, check_size, resize_steps

__all__ = [
    "GROUPS",
    "ExplorerPlan",
    "ExplorerSpecError",
    "build_steps",
    "pipeline_spec",
    "plan_pipeline",
    "steps_spec",
    "transform_catalog",
]

_CATEGORIES = {
    "geometry": {"HorizontalFlip", "VerticalFlip", "RandomRotate90", "D4", "Affine"}
    | {"Perspective", "ElasticTransform", "GridDistortion", "ShiftScaleRotate", "Rotate"},
    "occlusion": {"CoarseDropout", "GridDropout", "RandomShadow", "XYMasking", "Erasing"},
    "blur, noise, quality": {"GaussianBlur", "MotionBlur", "MedianBlur", "Defocus", "Blur"}
    | {"GaussNoise", "ISONoise", "ImageCompression", "Downscale", "GlassBlur", "ZoomBlur"},
}
# Readable names of OpenCV's integer constants, for choice controls.
_CHOICE_LABELS = {
    "interpolation": ["nearest", "linear", "cubic", "area", "lanczos4"],
    "border_mode": ["constant", "replicate", "reflect", "wrap", "reflect_101"],
}


class ExplorerSpecError(ValueError):
    """A spec or setting the explorer cannot use; ``index`` is the offending step (or -1)."""

    def __init__(self, message: str, index: int = -1) -> None:
        super().__init__(message)
        self.index = index


# -- catalog ---------------------------------------------------------------------------


def transform_catalog(names: Sequence[str] = AUGMENTATIONS) -> list[dict[str, Any]]:
    """The transforms an explorer offers, JSON-ready, one control spec per parameter.

    Each entry: ``name``, ``category`` (geometry, colour, blur/noise/quality, occlusion),
    ``doc`` (first line of the class docstring) and ``params``: a list of
    ``{"name", "kind", "default", "minimum", "maximum", "choices", "labels", "nullable",
    "step"}`` read from albumentations' validation schema (see
    :func:`cvnb.augment._catalog.transform_params`); range defaults given as one number are shown as
    the pair the transform makes of them.

    Example:
        >>> [p["name"] for p in transform_catalog(["GaussNoise"])[0]["params"]][:2]
        ['p', 'std_range']
    """
    return [_catalog_entry(name) for name in names]


@functools.lru_cache(maxsize=256)
def _catalog_entry_cached(name: str) -> str:
    cls = getattr(A, name)
    category = next((c for c, members in _CATEGORIES.items() if name in members), "colour")
    doc = (inspect.getdoc(cls) or "").strip().split("\n")[0]
    params = []
    for spec in transform_params(name):
        default = _effective_default(cls, spec.name, spec.kind, spec.default)
        labels = _CHOICE_LABELS.get(spec.name) if spec.choices == (0, 1, 2, 3, 4) else None
        params.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "default": _jsonable(default),
                "minimum": spec.minimum,
                "maximum": spec.maximum,
                "choices": list(spec.choices),
                "labels": labels or [str(c) for c in spec.choices],
                "nullable": spec.nullable,
                "step": 1 if spec.kind in ("int", "int_range") else 0.01,
            }
        )
    return json.dumps({"name": name, "category": category, "doc": doc, "params": params})


def _catalog_entry(name: str) -> dict[str, Any]:
    return json.loads(_catalog_entry_cached(name))  # a fresh copy: callers may edit it


def _effective_default(cls: type, name: str, kind: str, default: Any) -> Any:
    """A range parameter's default as the pair the transform stores (4.0 → (1.0, 4.0))."""
    if kind not in ("float_range", "int_range") or isinstance(default, tuple | list | None):
        return default
    instance = _default_instance(cls)
    value = getattr(instance, name, None) if instance is not None else None
    if isinstance(value, tuple | list) and len(value) == 2:
        return tuple(value)
    return default


@functools.lru_cache(maxsize=256)
def _default_instance(cls: type) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls()
    except (TypeError, ValueError):
        return None


# -- specs <-> albumentations steps ----------------------------------------------------


def build_steps(spec: Any, *, where: str = "transforms") -> list[A.BasicTransform | A.BaseCompose]:
    """Albumentations steps from a JSON spec, validated by albumentations itself.

    Lists become tuples (JSON has no tuples); a text value of a parameter whose kind is
    ``"other"`` (e.g. a colour or a dict typed into a text box) is read as a Python literal.

    Raises:
        ExplorerSpecError: A malformed entry, an unknown transform or parameter, or values
            the transform refuses; the message is albumentations' own, prefixed with where
            it is (``transforms[2] (GaussNoise): std_range: …``), and ``index`` is the step.
    """
    if not isinstance(spec, list | tuple):
        raise ExplorerSpecError(
            f"{where} must be a list of {{'name', 'p', 'params'}} dicts, got {type(spec).__name__}"
        )
    steps = []
    for index, entry in enumerate(spec):
        try:
            steps.append(_build_entry(entry))
        except (TypeError, ValueError) as err:
            name = entry.get("name") if isinstance(entry, dict) else None
            label = f"{where}[{index}]" + (f" ({name})" if isinstance(name, str) else "")
            message = str(err)
            if isinstance(name, str) and message.startswith(f"{name}: "):
                message = message[len(name) + 2 :]
            raise ExplorerSpecError(f"{label}: {message}", index) from None
    return steps


def _build_entry(entry: Any) -> A.BasicTransform | A.BaseCompose:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        example = "{'name': 'HorizontalFlip', 'p': 0.5}"
        raise ValueError(f"a step is a dict with a 'name', e.g. {example}, got {entry!r}")
    name = entry["name"]
    allowed = {"name", "p", "params", *(("transforms",) if name in GROUPS else ())}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; a step has {sorted(allowed)}")
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise ValueError(f"'params' must be a dict of argument: value, got {params!r}")
    p = {"p": entry["p"]} if entry.get("p") is not None else {}
    if name in GROUPS:
        children = build_steps(entry.get("transforms") or [], where=f"{name}")
        try:
            return getattr(A, name)(children, **p, **_tuples(params))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}: {err}") from None
    if "p" in params:
        raise ValueError("give the probability as the step's 'p', not inside 'params'")
    kinds = _param_kinds(name) if hasattr(A, name) else {}
    values = {k: _literal(v, k) if kinds.get(k) == "other" else v for k, v in params.items()}
    return make_transform(name, **p, **_tuples(values))


def steps_spec(steps: Sequence[A.BasicTransform | A.BaseCompose]) -> list[dict[str, Any]]:
    """The JSON spec of albumentations steps: only arguments that differ from the defaults.

    ``build_steps(steps_spec(steps))`` rebuilds steps that serialize exactly as ``steps``.

    Example:
        >>> steps_spec([A.Affine(rotate=(-10, 10), p=0.5)])
        [{'name': 'Affine', 'p': 0.5, 'params': {'rotate': [-10.0, 10.0]}}]
    """
    return [_step_spec(step) for step in steps]


def _step_spec(step: Any) -> dict[str, Any]:
    record = _jsonable(step.to_dict_private())
    name = record.pop("__class_fullname__")
    p = record.pop("p", None)
    if isinstance(step, A.BaseCompose):
        record.pop("transforms", None)
        entry = {"name": name, "p": p, "transforms": steps_spec(step.transforms)}
        return entry | ({"params": record} if record else {})
    defaults = _defaults(type(step))
    signature = _signature_defaults(type(step))
    params = {
        k: _merge_axes(v)
        for k, v in record.items()
        if not (k in defaults and defaults[k] == v) and not (k in signature and signature[k] == v)
    }
    entry = {"name": name, "p": p, "params": params}
    try:
        rebuilt = _jsonable(_build_entry(entry).to_dict_private())
    except (TypeError, ValueError):
        rebuilt = None
    if rebuilt != record | {"__class_fullname__": name, "p": p}:
        entry["params"] = record  # the short form did not rebuild exactly: keep every value
    return entry


@functools.lru_cache(maxsize=256)
def _defaults_json(cls: type) -> str:
    instance = _default_instance(cls)
    return json.dumps(_jsonable(instance.to_dict_private()) if instance is not None else {})


def _defaults(cls: type) -> dict[str, Any]:
    return json.loads(_defaults_json(cls))


def _signature_defaults(cls: type) -> dict[str, Any]:
    return {
        k: _jsonable(p.default)
        for k, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _merge_axes(value: Any) -> Any:
    """``{"x": v, "y": v}`` (how Affine stores one range for both axes) → ``v``."""
    if isinstance(value, dict) and set(value) == {"x", "y"} and value["x"] == value["y"]:
        return value["x"]
    return value


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_default_json))


def _default_json(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


# -- plans: a pipeline being explored --------------------------------------------------


@dataclass(eq=False)
class ExplorerPlan:
    """A pipeline being explored: its specs and settings, and its training steps built fresh.

    Building the steps anew from the specs (a few milliseconds) is what lets the explorer
    skip :class:`~cvnb.augment.Pipeline`'s defensive deep copies on every control change;
    :meth:`pipeline` builds the real thing when it is needed (save, training).

    Attributes:
        transforms, normalize: The specs (JSON-ready lists of steps).
        size, policy, fill, mix, mix_alpha: The settings, validated.
        train_steps: The training steps in order: resize policy (random crop position),
            normalize steps, then the random transforms (as ``Pipeline.train`` holds them).
    """

    transforms: list[dict[str, Any]]
    normalize: list[dict[str, Any]]
    size: int
    policy: str
    fill: Fill
    mix: str | None
    mix_alpha: float
    train_steps: list = field(repr=False)

    def pipeline(self) -> Pipeline:
        """The :class:`~cvnb.augment.Pipeline` of this plan (new objects on every call)."""
        return Pipeline(
            build_steps(self.transforms),
            self.size,
            policy=self.policy,
            fill=self.fill,
            normalize=build_steps(self.normalize, where="normalize"),
            mix=self.mix,
            mix_alpha=self.mix_alpha,
        )

    def code(self) -> str:
        """Python source that rebuilds the pipeline with :func:`cvnb.augment.make_pipeline`.

        Written from the specs, so it shows the arguments as set (``scale=(0.9, 1.1)``).
        """
        return spec_code(
            self.transforms,
            self.normalize,
            size=self.size,
            policy=self.policy,
            fill=self.fill,
            mix=self.mix,
            mix_alpha=self.mix_alpha,
        )


def plan_pipeline(
    transforms: Any,
    size: int,
    *,
    policy: str = "letterbox",
    fill: Any = 0,
    normalize: Any = (),
    mix: str | None = None,
    mix_alpha: float = 0.4,
) -> ExplorerPlan:
    """Check specs and settings and build the training steps, as the explorer does per change.

    ``plan.pipeline()`` gives the same :class:`~cvnb.augment.Pipeline` that
    :func:`cvnb.augment.make_pipeline` would build from the same steps and settings.

    Raises:
        ExplorerSpecError: A bad step (``index`` is its position in ``transforms``) or a bad
            setting (``index`` -1), with albumentations' or cvnb's message.
    """
    try:
        settings = {
            "size": check_size(size),
            "policy": canonical_policy(policy),
            "fill": check_fill(fill),
        }
        mix, mix_alpha = check_mix(None if mix in ("", "none") else mix, mix_alpha)
    except (TypeError, ValueError) as err:
        raise ExplorerSpecError(str(err)) from None
    norm = build_steps(normalize, where="normalize")
    for i, step in enumerate(norm):
        if getattr(step, "p", 1.0) < 1.0:
            raise ExplorerSpecError(
                f"normalize[{i}] ({type(step).__name__}): normalize steps run in validation "
                f"and export and must always apply; use p=1, not {step.p}"
            )
    steps = build_steps(transforms)
    head = resize_steps(settings["size"], settings["policy"], fill=settings["fill"], crop="random")
    return ExplorerPlan(
        transforms=_jsonable(list(transforms)),
        normalize=_jsonable(list(normalize)),
        mix=mix,
        mix_alpha=mix_alpha,
        train_steps=[*head, *norm, *steps],
        **settings,
    )


def pipeline_spec(pipeline: Pipeline) -> dict[str, Any]:
    """A pipeline as the explorer's settings: ``transforms`` and ``normalize`` specs,
    ``size``, ``policy``, ``fill`` (int or list), ``mix`` (``"none"`` for None), ``mix_alpha``."""
    return {
        "transforms": steps_spec(pipeline.transforms),
        "normalize": steps_spec(pipeline.normalize),
        "size": pipeline.size,
        "policy": pipeline.policy,
        "fill": _jsonable(pipeline.fill),
        "mix": pipeline.mix or "none",
        "mix_alpha": pipeline.mix_alpha,
    }

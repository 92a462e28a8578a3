"""A pipeline as Python source: what the explorer shows and ``Pipeline.to_code`` returns.

Two writers share one ``make_pipeline(...)`` frame: :func:`pipeline_code` writes a built
:class:`~cvnb.augment.Pipeline` (arguments equal to a transform's defaults left out), and
:func:`spec_code` writes the explorer's JSON specs as set (``scale=(0.9, 1.1)``). The spec
helpers both the explorer and the code use (:data:`GROUPS`, ``_tuples``, ``_literal``,
``_param_kinds``) live here, so :mod:`cvnb.augment._explore` imports this module, never the
reverse.
"""

from __future__ import annotations

import ast
import functools
import inspect
import warnings
from typing import TYPE_CHECKING, Any

import albumentations as A
from albumentations.core.serialization import SERIALIZABLE_REGISTRY

from ._catalog import transform_params
from ._document import _json

if TYPE_CHECKING:
    from ._pipeline import Pipeline
    from ._resize import Fill

__all__ = ["GROUPS", "pipeline_code", "spec_code"]

#: Containers a spec may use to group steps.
GROUPS = ("OneOf", "SomeOf", "Sequential")


def pipeline_code(pipeline: Pipeline) -> str:
    """Python source that rebuilds ``pipeline`` with :func:`make_pipeline`.

    Arguments equal to a transform's defaults are left out, so the code reads like
    hand-written albumentations.
    """
    normalize = None
    if pipeline.normalize:
        normalize = [f"    normalize={_code_list(pipeline.normalize, 4).lstrip()},"]
    return _make_pipeline_source(
        [_code_list(pipeline.transforms, 4) + ","],
        normalize,
        size=pipeline.size,
        policy=pipeline.policy,
        fill=pipeline.fill,
        mix=pipeline.mix,
        mix_alpha=pipeline.mix_alpha,
    )


def spec_code(
    transforms: list[dict[str, Any]],
    normalize: list[dict[str, Any]],
    *,
    size: int,
    policy: str,
    fill: Fill,
    mix: str | None,
    mix_alpha: float,
) -> str:
    """Python source that rebuilds the pipeline of explorer specs with :func:`make_pipeline`.

    Written from the specs, so it shows the arguments as set (``scale=(0.9, 1.1)``); the
    settings are taken as already validated (see :func:`cvnb.augment._explore.plan_pipeline`).
    """
    return _make_pipeline_source(
        _spec_list(transforms, 4, ","),
        _spec_list(normalize, 4, ",", prefix="normalize=") if normalize else None,
        size=size,
        policy=policy,
        fill=fill,
        mix=mix,
        mix_alpha=mix_alpha,
    )


def _make_pipeline_source(
    transforms: list[str],
    normalize: list[str] | None,
    *,
    size: int,
    policy: str,
    fill: Fill,
    mix: str | None,
    mix_alpha: float,
) -> str:
    """The ``make_pipeline(...)`` call around already written step lines."""
    lines = ["import albumentations as A", "", "from cvnb.augment import make_pipeline", ""]
    lines += ["pipeline = make_pipeline(", *transforms]
    lines += [f"    size={size!r},", f"    policy={policy!r},"]
    if policy == "letterbox" or fill != 0:
        lines.append(f"    fill={fill!r},")
    lines += normalize or []
    if mix is not None:
        lines += [f"    mix={mix!r},", f"    mix_alpha={mix_alpha!r},"]
    return "\n".join([*lines, ")"]) + "\n"


# -- built steps -> code ---------------------------------------------------------------


def _code_list(steps: list, indent: int) -> str:
    pad = " " * indent
    if not steps:
        return f"{pad}[]"
    inner = "".join(f"{pad}    {_code(s, indent + 4)},\n" for s in steps)
    return f"{pad}[\n{inner}{pad}]"


def _code(step: Any, indent: int) -> str:
    spec = step.to_dict_private()
    name = spec.pop("__class_fullname__")
    cls = SERIALIZABLE_REGISTRY.get(name, type(step))
    prefix = "A." if getattr(A, name, None) is cls else f"{type(step).__module__}."
    if "transforms" in spec:
        children = _code_list(list(step.transforms), indent).lstrip()
        rest = ", ".join(f"{k}={v!r}" for k, v in spec.items() if k != "transforms")
        return f"{prefix}{name}({children}{', ' + rest if rest else ''})"
    defaults = _defaults(cls)
    args = [
        f"{k}={_plain_repr(v)}"
        for k, v in spec.items()
        if k not in defaults or _json(defaults[k]) != _json(v)
    ]
    return f"{prefix}{name}({', '.join(args)})"


def _defaults(cls: type) -> dict[str, Any]:
    """What a default-constructed transform records (None for classes that need arguments)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls().to_dict_private()
    except (TypeError, ValueError):
        return {
            k: p.default
            for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty
        }


def _plain_repr(value: Any) -> str:
    return repr(_python(value))


def _python(value: Any) -> Any:
    """numpy scalars to Python, containers kept (tuples stay tuples, as in the signature)."""
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_python(v) for v in value)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


# -- specs -> code ---------------------------------------------------------------------


def _spec_list(spec: list, indent: int, end: str, *, prefix: str = "") -> list[str]:
    pad = " " * indent
    if not spec:
        return [f"{pad}{prefix}[]{end}"]
    lines = [f"{pad}{prefix}["]
    for entry in spec:
        lines += _spec_entry(entry, indent + 4)
    return [*lines, f"{pad}]{end}"]


def _spec_entry(entry: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    name = entry["name"]
    params = entry.get("params") or {}
    p = [f"p={entry['p']!r}"] if entry.get("p") is not None else []
    if name in GROUPS:
        rest = [f"{k}={_tuples(v)!r}" for k, v in params.items()] + p
        children = _spec_list(entry.get("transforms") or [], indent + 4, ",")
        return [f"{pad}A.{name}(", *children, *(f"{pad}    {a}," for a in rest), f"{pad}),"]
    kinds = _param_kinds(name)
    args = [
        f"{k}={_tuples(_literal(v, k) if kinds.get(k) == 'other' else v)!r}"
        for k, v in params.items()
    ]
    return [f"{pad}A.{name}({', '.join([*args, *p])}),"]


# -- spec values (shared with the explorer's spec -> steps) ----------------------------


@functools.lru_cache(maxsize=256)
def _param_kinds(name: str) -> dict[str, str]:
    return {s.name: s.kind for s in transform_params(name)}


def _tuples(value: Any) -> Any:
    """JSON lists back to tuples, nested (albumentations wants tuples for ranges)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    return value


def _literal(value: Any, name: str) -> Any:
    """A text value of an ``"other"`` parameter read as a Python literal (others unchanged)."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise ValueError(
            f"{name}: cannot read {value!r} as a value; write a Python literal such as "
            "(0, 0.5, 1, 1) or {'upscale': 0, 'downscale': 0}"
        ) from None

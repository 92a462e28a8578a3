"""A pipeline as Python source: what the explorer shows and ``Pipeline.to_code`` returns."""

from __future__ import annotations

import inspect
import warnings
from typing import TYPE_CHECKING, Any

import albumentations as A
from albumentations.core.serialization import SERIALIZABLE_REGISTRY

from ._document import _json

if TYPE_CHECKING:
    from ._pipeline import Pipeline

__all__ = ["pipeline_code"]


def pipeline_code(pipeline: Pipeline) -> str:
    """Python source that rebuilds ``pipeline`` with :func:`make_pipeline`.

    Arguments equal to a transform's defaults are left out, so the code reads like
    hand-written albumentations.
    """
    lines = ["import albumentations as A", "", "from cvnb.augment import make_pipeline", ""]
    lines.append("pipeline = make_pipeline(")
    lines.append(_code_list(pipeline.transforms, 4) + ",")
    lines.append(f"    size={pipeline.size!r},")
    lines.append(f"    policy={pipeline.policy!r},")
    if pipeline.policy == "letterbox" or pipeline.fill != 0:
        lines.append(f"    fill={pipeline.fill!r},")
    if pipeline.normalize:
        lines.append(f"    normalize={_code_list(pipeline.normalize, 4).lstrip()},")
    if pipeline.mix is not None:
        lines.append(f"    mix={pipeline.mix!r},")
        lines.append(f"    mix_alpha={pipeline.mix_alpha!r},")
    lines.append(")")
    return "\n".join(lines) + "\n"


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

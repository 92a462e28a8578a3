"""The transforms an explorer offers, with their parameters read from albumentations.

albumentations 2 validates each transform's arguments with a pydantic ``InitSchema``; its
JSON schema gives each parameter's type, bounds and choices, and the constructor's
signature gives the default. :func:`transform_params` turns both into one flat
:class:`ParamSpec` per parameter, from which a UI can generate a control.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import albumentations as A

__all__ = ["AUGMENTATIONS", "ParamSpec", "make_transform", "transform_params"]

#: Image-level transforms that keep the image size (so they can follow the resize policy),
#: grouped: geometry, colour/intensity, blur/noise/quality, occlusion.
AUGMENTATIONS = (
    "HorizontalFlip",
    "VerticalFlip",
    "RandomRotate90",
    "D4",
    "Affine",
    "Perspective",
    "ElasticTransform",
    "GridDistortion",
    "RandomBrightnessContrast",
    "HueSaturationValue",
    "ColorJitter",
    "RandomGamma",
    "RGBShift",
    "ChannelShuffle",
    "ToGray",
    "CLAHE",
    "Equalize",
    "AutoContrast",
    "Posterize",
    "Solarize",
    "Sharpen",
    "GaussianBlur",
    "MotionBlur",
    "MedianBlur",
    "Defocus",
    "GaussNoise",
    "ISONoise",
    "ImageCompression",
    "Downscale",
    "CoarseDropout",
    "GridDropout",
    "RandomShadow",
)

# Parameters a classification image never uses (masks) or that are not settings (strict).
_HIDDEN = {"strict", "mask_interpolation", "fill_mask"}


@dataclass(frozen=True)
class ParamSpec:
    """One constructor parameter of an albumentations transform.

    Attributes:
        name: Argument name.
        kind: ``"float"``, ``"int"``, ``"bool"``, ``"choice"``, ``"float_range"`` /
            ``"int_range"`` (a ``(low, high)`` pair) or ``"other"`` (any literal, e.g. a
            fill colour or a dict; edit as text).
        default: The constructor's default (ranges as tuples).
        minimum, maximum: Bounds from the schema, when it has them (for ranges: of each end).
        choices: Allowed values of a ``"choice"``.
        nullable: Whether None is allowed.
    """

    name: str
    kind: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    nullable: bool = False


def _transform_class(name: str) -> type:
    cls = getattr(A, name, None)
    if not (isinstance(cls, type) and issubclass(cls, A.BasicTransform)):
        raise ValueError(f"albumentations {A.__version__} has no transform named {name!r}")
    return cls


def transform_params(name: str) -> list[ParamSpec]:
    """The parameters of albumentations transform ``name``, for generating controls.

    Example:
        >>> [(s.name, s.kind) for s in transform_params("RandomBrightnessContrast")][:2]
        [('p', 'float'), ('brightness_limit', 'float_range')]
    """
    cls = _transform_class(name)
    schema = cls.InitSchema.model_json_schema().get("properties", {})
    defaults = {
        k: p.default
        for k, p in inspect.signature(cls.__init__).parameters.items()
        if k != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    specs = []
    for key in ["p", *[k for k in defaults if k != "p"]]:
        if key in _HIDDEN or key not in schema or key not in defaults:
            continue
        default = defaults[key]
        specs.append(
            _spec(key, schema[key], None if default is inspect.Parameter.empty else default)
        )
    return specs


def _spec(name: str, prop: dict, default: Any) -> ParamSpec:
    options = prop.get("anyOf", [prop])
    nullable = any(o.get("type") == "null" for o in options)
    for option in options:
        items = option.get("prefixItems", [])
        if option.get("type") == "array" and len(items) == 2:
            kind = "int_range" if {i.get("type") for i in items} == {"integer"} else "float_range"
            lo, hi = _bounds(items[0])
            return ParamSpec(name, kind, default, lo, hi, nullable=nullable)
    for option in options:
        if "enum" in option:
            return ParamSpec(
                name, "choice", default, choices=tuple(option["enum"]), nullable=nullable
            )
        kind = {"boolean": "bool", "integer": "int", "number": "float"}.get(option.get("type"))
        if kind:
            lo, hi = _bounds(option)
            return ParamSpec(name, kind, default, lo, hi, nullable=nullable)
    return ParamSpec(name, "other", default, nullable=nullable)


def _bounds(option: dict) -> tuple[float | None, float | None]:
    lo = option.get("minimum", option.get("exclusiveMinimum"))
    hi = option.get("maximum", option.get("exclusiveMaximum"))
    return lo, hi


def make_transform(name: str, **params: Any) -> A.BasicTransform:
    """Build albumentations transform ``name`` strictly: unknown or invalid arguments raise.

    Raises:
        ValueError: With albumentations' own message (pydantic's link line removed), e.g.
            ``GaussNoise: std_range: First value should be less than the second value…``.

    Example:
        >>> make_transform("HorizontalFlip", p=0.3)
        HorizontalFlip(p=0.3)
    """
    cls = _transform_class(name)
    try:
        try:  # strict: unknown arguments raise instead of warning
            return cls(**params, strict=True)
        except TypeError as err:
            if "'strict'" not in str(err):  # a few transforms take no strict argument
                raise
            return cls(**params)
    except (TypeError, ValueError) as err:
        lines = [
            line.strip()
            for line in str(err).splitlines()
            if line.strip()
            and not line.strip().startswith("For further information")
            and "validation error" not in line
        ]
        raise ValueError(f"{name}: {' '.join(lines)}") from None

"""Preprocessing and augmentation: resize policies, albumentations presets, pipelines.

A :class:`Pipeline` holds the resize policy, deterministic normalization and random
augmentation as albumentations ``Compose`` objects (``train`` and ``valid``), plus the
batch-level mix (MixUp/CutMix). The same pipeline trains (``make_learner(augment=…)``),
validates, and preprocesses for the exported model; it saves to and loads from one JSON file.

Example:
    >>> from cvnb.augment import audit_aspect, load_pipeline, preset
    >>> audit_aspect(df).recommended  # doctest: +SKIP
    'letterbox'
    >>> pipeline = preset("medium", 224, policy="letterbox", mix="mixup")
    >>> pipeline.save("runs/demo/pipeline.json")  # doctest: +SKIP
    >>> load_pipeline("runs/demo/pipeline.json") == pipeline  # doctest: +SKIP
    True
"""

from __future__ import annotations

from ._aspect import AspectAudit, audit_aspect
from ._catalog import AUGMENTATIONS, ParamSpec, make_transform, transform_params
from ._channel_stats import DatasetStats, dataset_stats
from ._document import PIPELINE_FORMAT, PipelineFileError
from ._explore import ExplorerSpecError, plan_pipeline, transform_catalog
from ._files import load_pipeline
from ._mix import MIX_MODES, mix_images
from ._pipeline import Pipeline, make_pipeline, seed_compose
from ._presets import DOMAIN_PRESETS, PRESET_NOTES, PRESETS, preset
from ._resize import RESIZE_ALIASES, RESIZE_POLICIES, resize_transform

__all__ = [
    "AUGMENTATIONS",
    "DOMAIN_PRESETS",
    "MIX_MODES",
    "PIPELINE_FORMAT",
    "PRESETS",
    "PRESET_NOTES",
    "RESIZE_ALIASES",
    "RESIZE_POLICIES",
    "AspectAudit",
    "DatasetStats",
    "ExplorerSpecError",
    "ParamSpec",
    "Pipeline",
    "PipelineFileError",
    "audit_aspect",
    "dataset_stats",
    "load_pipeline",
    "make_pipeline",
    "make_transform",
    "mix_images",
    "plan_pipeline",
    "preset",
    "resize_transform",
    "seed_compose",
    "transform_catalog",
    "transform_params",
]

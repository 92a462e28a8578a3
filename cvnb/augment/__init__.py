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
from ._channel_stats import DatasetStats, dataset_stats
from ._document import PipelineFileError
from ._explore import transform_catalog
from ._files import load_pipeline
from ._mix import MIX_MODES
from ._pipeline import Pipeline, make_pipeline
from ._presets import DOMAIN_PRESETS, PRESETS, preset
from ._resize import RESIZE_POLICIES

__all__ = [
    "DOMAIN_PRESETS",
    "MIX_MODES",
    "PRESETS",
    "RESIZE_POLICIES",
    "AspectAudit",
    "DatasetStats",
    "Pipeline",
    "PipelineFileError",
    "audit_aspect",
    "dataset_stats",
    "load_pipeline",
    "make_pipeline",
    "preset",
    "transform_catalog",
]

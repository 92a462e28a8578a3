"""Backbones: timm models, offline pretrained weights, layer groups."""

from __future__ import annotations

from ._backbone import create_backbone
from ._groups import LayerGroup, layer_groups, param_groups
from ._pretrained import (
    OFFLINE_DEFAULT,
    OFFLINE_WEIGHTS,
    PretrainedWeightsUnavailable,
    offline_pretrained,
)

__all__ = [
    "OFFLINE_DEFAULT",
    "OFFLINE_WEIGHTS",
    "LayerGroup",
    "PretrainedWeightsUnavailable",
    "create_backbone",
    "layer_groups",
    "offline_pretrained",
    "param_groups",
]

"""Backbones: timm models, offline pretrained weights, layer groups, and comparing them."""

from __future__ import annotations

from cvnb._extras import require_extra

require_extra("train", __name__)  # before the imports below: names the missing extra

from ._backbone import create_backbone
from ._compare import DEFAULT_CANDIDATES, BackboneComparison, compare_backbones
from ._groups import LayerGroup, layer_groups
from ._pretrained import OFFLINE_DEFAULT, PretrainedWeightsUnavailable, offline_pretrained

__all__ = [
    "DEFAULT_CANDIDATES",
    "OFFLINE_DEFAULT",
    "BackboneComparison",
    "LayerGroup",
    "PretrainedWeightsUnavailable",
    "compare_backbones",
    "create_backbone",
    "layer_groups",
    "offline_pretrained",
]

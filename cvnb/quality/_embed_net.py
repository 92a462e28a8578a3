"""The torch half of the scan's embedder: the pooled-feature network and its ONNX export.

Imported only when an embedder is made (:func:`cvnb.quality.make_embedder`), so that
``import cvnb.quality`` and the scan's image checks (``scan_quality(df, embedder=False)``)
need no torch: the base install runs them.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from timm.models.efficientnet import EfficientNet
from torch import nn
from torch.nn import functional as F

from ._embed_consts import FEATURE_SETS
from ._embed_index import embedder_folder
from ._ort import ort_session

__all__ = ["PooledFeatures", "check_parity", "onnx_file", "weights_digest"]

_PARITY_ATOL = 1e-4
_EFFICIENTNET_STAGES = 4  # of Lite0's 7: stages 3-6 (80, 112, 192, 320 channels)
_INTERMEDIATE_LEVELS = 2


class PooledFeatures(nn.Module):
    """A timm backbone reduced to pooled features, one unit vector per image.

    ``features="stages"``: the outputs of the last few stages are each
    global-average-pooled and L2-normalised, then concatenated and scaled back to unit
    length, so the cosine of two vectors is the mean of the per-stage cosines. Middle stages
    describe layout and texture (what near-duplicates share), the last ones objects.
    Measured with a linear probe on recoloured 32×32 digits at 96 px: 0.94 accuracy and
    label-flip precision@k 0.91 for EfficientNet-Lite0 stages 3–6 (704 dims) against 0.87
    and 0.80 for the pooled 1280-dim head. ``features="head"``: the pooled pre-classifier
    features (1280 dims for Lite0), what ImageNet training shaped for telling objects
    apart; on photos they carry the class far better (see :data:`FEATURE_SETS`).
    ``features="both"``: the two, each unit length, concatenated and scaled back.

    EfficientNet-family models (timm's ``blocks`` stages; Lite0 has 7) use their last
    :data:`_EFFICIENTNET_STAGES` stages; other timm models the last two levels of
    ``forward_intermediates``.
    """

    def __init__(self, model: nn.Module, features: str = "stages"):
        super().__init__()
        if features not in FEATURE_SETS:
            raise ValueError(f"features must be one of {FEATURE_SETS}, got {features!r}")
        self.model = model
        self.features = features
        self.efficientnet = isinstance(model, EfficientNet)
        stages = (
            f"blocks{len(model.blocks) - _EFFICIENTNET_STAGES}-{len(model.blocks) - 1}"
            if self.efficientnet
            else f"intermediates-last{_INTERMEDIATE_LEVELS}"
        )
        self.layers = {"stages": stages, "head": "head", "both": f"{stages}+head"}[features]

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not self.efficientnet:
            return self.model.forward_intermediates(
                x, indices=_INTERMEDIATE_LEVELS, intermediates_only=True
            )
        x = self.model.bn1(self.model.conv_stem(x))
        first = len(self.model.blocks) - _EFFICIENTNET_STAGES
        out = []
        for i, stage in enumerate(self.model.blocks):
            x = stage(x)
            if i >= first:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.features == "head":
            return F.normalize(self.model.forward_head(self.model.forward_features(x)), dim=1)
        maps = self.stages(x)
        pooled = [F.normalize(t.mean(dim=(2, 3)), dim=1) for t in maps]
        if self.features == "both":
            # The head runs on from the last stage's output (EfficientNet) or the backbone.
            last = (
                self.model.bn2(self.model.conv_head(maps[-1]))
                if self.efficientnet
                else self.model.forward_features(x)
            )
            pooled.append(F.normalize(self.model.forward_head(last), dim=1))
        return torch.cat(pooled, dim=1) / math.sqrt(len(pooled))


def weights_digest(net: nn.Module) -> str:
    """A short digest of every tensor in the state dict: other weights → another key."""
    h = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def onnx_file(module: PooledFeatures, model: str, size: int, weights: str) -> Path:
    """The cached ONNX export of ``module`` at ``size``; exported (atomically) when missing."""
    folder = embedder_folder()
    path = folder / f"{model}-{size}px-{module.layers}-{weights}.onnx"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".onnx", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        example = torch.rand(2, 3, size, size)
        with torch.no_grad():
            # The TorchScript exporter (dynamo=False): deprecated, but its graph was measured
            # in this project to run ~15x faster in onnxruntime than the dynamo exporter's.
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                input_names=["image"],
                output_names=["features"],
                dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        check_parity(module, tmp, size)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache file is not a secret
        os.replace(tmp, path)  # another process may have won the race: same bytes, fine
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_parity(module: nn.Module, path: Path, size: int) -> None:
    x = np.random.default_rng(0).normal(size=(3, 3, size, size)).astype(np.float32)
    with torch.inference_mode():
        expected = module(torch.from_numpy(x)).numpy()
    got = ort_session(path, 1, ["CPUExecutionProvider"]).run(None, {"image": x})[0]
    err = float(np.abs(got - expected).max())
    if not err <= _PARITY_ATOL * max(1.0, float(np.abs(expected).max())):
        raise RuntimeError(
            f"the ONNX export of the embedder differs from torch by {err:.2g}; use "
            "make_embedder(backend='torch') and report this (torch/onnxruntime versions)"
        )

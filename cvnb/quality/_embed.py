"""Image embeddings for the quality scan: a pretrained backbone as a feature extractor.

An :class:`Embedder` turns RGB images into L2-normalised float32 vectors (globally pooled
features of the backbone's last stages, see ``_Features``). Near-duplicate search, outlier
scores and the label-issue probe all work on these vectors (:mod:`cvnb.quality._semantic`).
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timm.models.efficientnet import EfficientNet
from torch import nn
from torch.nn import functional as F

from cvnb.datasets import cache_dir
from cvnb.device import onnx_providers, pick_device
from cvnb.models import create_backbone

__all__ = [
    "BACKENDS",
    "DEFAULT_EMBED_SIZE",
    "FEATURE_SETS",
    "RESIZE_POLICIES",
    "Embedder",
    "make_embedder",
]

#: Default input size (square, pixels). Measured with the multi-stage features on recoloured
#: 32×32 digits and real COCO crops at 64/96/128 px (rough, loaded 2-core machine): a
#: linear probe on COCO reached 0.77 accuracy at 64 px, 0.83 at 96 and 0.83 at 128; on
#: digits 0.93–0.94 at all three, label-flip precision@k 0.89–0.92. Near-duplicate copies
#: (resized, JPEG q10–25, cropped 5–10 %, brightness ±20 %) of COCO crops were found at a
#: 0.5 % false-positive rate in 98 % of cases at 64 px, 85 % at 96 and 66 % at 128 (larger
#: inputs make JPEG blocking visible). 96 is the smallest size that keeps label-issue
#: quality on photos; pass size=64 for low-resolution sets or speed (~1.5x faster).
DEFAULT_EMBED_SIZE = 96
#: How an image becomes a ``size``×``size`` square. ``"squish"`` (default) resizes the whole
#: image, aspect not kept: the scan must see every pixel, since what tells two images apart
#: can sit at the border a centre crop cuts off (odd aspect ratios are an issue of their
#: own). ``"crop"`` resizes the shorter side and centre-crops. Measured on COCO crops at
#: 96 px: near-duplicate copies found at a 0.5 % false-positive rate 0.86 (squish) vs 0.76
#: (crop), linear-probe accuracy 0.82 vs 0.79; identical on square digits.
RESIZE_POLICIES = ("squish", "crop")
#: Which pooled features an embedder returns (see ``_Features``).
FEATURE_SETS = ("stages", "head", "both")
#: ``"auto"`` picks the faster one here (see ``_AUTO_BACKEND``).
BACKENDS = ("auto", "onnxruntime", "torch")

# Measured here on CPU, one thread, batches of 32 (rough: 2 cores shared with other jobs),
# images/s torch vs onnxruntime: 64 px 88 vs 115-150, 96 px 42-48 vs 87-104, 128 px 28-32
# vs 51-57. Outputs agree to ~4e-7 (cosine > 1 - 1e-6), so the backend is not in the key.
_AUTO_BACKEND = "onnxruntime"
# Bump when preprocessing changes in a way that changes the vectors (it enters the key).
_PREPROCESS_VERSION = 1
_MEAN_STD = 0.5  # Lite0's normalisation; other timm models bring their own pretrained_cfg
_PARITY_ATOL = 1e-4
_EFFICIENTNET_STAGES = 4  # of Lite0's 7: stages 3-6 (80, 112, 192, 320 channels)
_INTERMEDIATE_LEVELS = 2


class _Features(nn.Module):
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


class Embedder:
    """Images → L2-normalised float32 feature vectors, with torch or onnxruntime.

    Make one with :func:`make_embedder`. Calling it on a list of PIL images returns an
    ``(n, dim)`` float32 array whose rows have unit length, so a dot product is the cosine
    similarity. Images are converted to RGB, resized to ``size``×``size`` by ``resize``,
    scaled to [0, 1] and normalised with the backbone's mean and std, then run in batches.

    Attributes:
        model: timm model name.
        size: Input size in pixels (square).
        resize: ``"squish"`` or ``"crop"`` (see :data:`RESIZE_POLICIES`).
        features: ``"stages"``, ``"head"`` or ``"both"`` (see :data:`FEATURE_SETS`).
        backend: ``"onnxruntime"`` or ``"torch"`` (resolved, never ``"auto"``).
        dim: Length of each vector (704 for Lite0).
        key: Identifies model, size, weights (a digest) and preprocessing, so cached vectors
            are reused only when they would come out the same. The backend is not part of
            it: both give the same vectors to ~1e-6.
        batch_size: Images per forward pass.
        onnx_path: The cached ONNX file (onnxruntime backend), else None.
        device: Where it runs: the first onnxruntime provider, or the torch device.

    Threads: torch uses ``torch.get_num_threads()``; onnxruntime uses ``threads`` as given to
    :func:`make_embedder`, or ``torch.get_num_threads()`` at creation when None, so one
    setting governs both.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        model: str,
        size: int,
        resize: str,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        backend: str,
        batch_size: int,
        threads: int | None,
        weights: str,
        device: str | None = None,
    ):
        self.model = model
        self.size = size
        self.resize = resize
        self.features = getattr(module, "features", "stages")
        self.backend = backend
        self.batch_size = batch_size
        self._mean = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
        self._module = module.eval()
        with torch.inference_mode():
            self.dim = int(module(torch.zeros(1, 3, size, size)).shape[1])
        norm = ",".join(f"{m:g}/{s:g}" for m, s in zip(mean, std, strict=True))
        self.key = (
            f"{model}|size={size}|resize={resize}|norm={norm}|features={module.layers}"
            f"|weights={weights}|pre=v{_PREPROCESS_VERSION}"
        )
        self.onnx_path: Path | None = None
        self._session = None
        self._device = None
        if backend == "onnxruntime":
            self.onnx_path = _onnx_file(self._module, model, size, weights)
            self._session = _ort_session(self.onnx_path, threads, onnx_providers(device))
            self.device = self._session.get_providers()[0]
        else:
            self._device = pick_device(device)
            self._module.to(self._device)
            self.device = str(self._device)

    def __repr__(self) -> str:
        return f"Embedder({self.key!r}, backend={self.backend!r}, dim={self.dim})"

    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL images → normalised float32 ``(n, 3, size, size)``."""
        batch = np.stack([_resize(im, self.size, self.resize) for im in images])
        x = batch.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        return (x - self._mean) / self._std

    def __call__(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed images.

        Args:
            images: RGB PIL images (other modes are converted to RGB).

        Returns:
            float32 ``(len(images), dim)``, rows of unit L2 norm.
        """
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            x = self.preprocess(images[start : start + self.batch_size])
            out[start : start + len(x)] = self._forward(x)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if self._session is not None:
            return self._session.run(None, {"image": x})[0]
        with torch.inference_mode():
            return self._module(torch.from_numpy(x).to(self._device)).float().cpu().numpy()


def make_embedder(
    model: str = "tf_efficientnet_lite0",
    *,
    size: int = DEFAULT_EMBED_SIZE,
    backend: str = "auto",
    resize: str = "squish",
    features: str = "stages",
    batch_size: int = 32,
    threads: int | None = None,
    device: str | None = None,
) -> Embedder:
    """An :class:`Embedder` over a pretrained timm backbone.

    The default backbone, ``tf_efficientnet_lite0``, has ImageNet weights that ship with an
    installed package, so this works offline. For the onnxruntime backend the feature
    extractor is exported to ONNX once per model, size and weights and cached under
    ``cvnb.datasets.cache_dir() / "quality" / "embedders"`` (written atomically, checked
    against torch when written).

    Args:
        model: A timm model name; any name other than the offline default needs network
            for its pretrained weights.
        size: Square input size in pixels (default :data:`DEFAULT_EMBED_SIZE`).
        backend: ``"onnxruntime"``, ``"torch"`` or ``"auto"`` (the faster one here:
            onnxruntime, about 2x torch on CPU here).
        resize: ``"squish"`` (whole image, default) or ``"crop"`` (shorter side, centre crop).
        features: ``"stages"`` (pooled multi-stage features, best on small and
            non-photographic images), ``"head"`` (the pooled pre-classifier features, best
            on photos) or ``"both"``; see :data:`FEATURE_SETS`.
        batch_size: Images per forward pass.
        threads: onnxruntime intra-op threads (None: ``torch.get_num_threads()``).
        device: Where the model runs, by the project's one rule (:mod:`cvnb.device`):
            None picks CUDA when available (onnxruntime: the CUDA provider when
            ``onnxruntime-gpu`` is installed), else the CPU; ``"cpu"`` forces the CPU.
            Not part of ``key``: vectors agree across devices to rounding.

    Returns:
        The :class:`Embedder`.

    Raises:
        ValueError: Unknown backend, resize policy or model name, or ``size`` < 32.
        cvnb.models.PretrainedWeightsUnavailable: The model's weights cannot be had here.

    Example:
        >>> from PIL import Image
        >>> embed = make_embedder(backend="torch")
        >>> embed([Image.new("RGB", (50, 40), "red")]).shape
        (1, 704)
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if resize not in RESIZE_POLICIES:
        raise ValueError(f"resize must be one of {RESIZE_POLICIES}, got {resize!r}")
    if int(size) < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    net = create_backbone(model, num_classes=0, pretrained=True)
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    mean = tuple(float(v) for v in cfg.get("mean", (_MEAN_STD,) * 3))
    std = tuple(float(v) for v in cfg.get("std", (_MEAN_STD,) * 3))
    return Embedder(
        _Features(net, features),
        model=model,
        size=int(size),
        resize=resize,
        mean=mean,
        std=std,
        backend=_AUTO_BACKEND if backend == "auto" else backend,
        batch_size=batch_size,
        threads=threads,
        weights=_weights_digest(net),
        device=device,
    )


def _resize(image: Image.Image, size: int, policy: str) -> np.ndarray:
    if image.mode != "RGB":
        image = image.convert("RGB")
    if policy == "crop":
        w, h = image.size
        scale = size / min(w, h)
        w2, h2 = max(size, round(w * scale)), max(size, round(h * scale))
        image = image.resize((w2, h2), Image.Resampling.BILINEAR)
        left, top = (w2 - size) // 2, (h2 - size) // 2
        image = image.crop((left, top, left + size, top + size))
    elif image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _weights_digest(net: nn.Module) -> str:
    """A short digest of every tensor in the state dict: other weights → another key."""
    h = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _onnx_file(module: _Features, model: str, size: int, weights: str) -> Path:
    """The cached ONNX export of ``module`` at ``size``; exported (atomically) when missing."""
    folder = cache_dir() / "quality" / "embedders"
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
        _check_parity(module, tmp, size)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache file is not a secret
        os.replace(tmp, path)  # another process may have won the race: same bytes, fine
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _check_parity(module: nn.Module, path: Path, size: int) -> None:
    x = np.random.default_rng(0).normal(size=(3, 3, size, size)).astype(np.float32)
    with torch.inference_mode():
        expected = module(torch.from_numpy(x)).numpy()
    got = _ort_session(path, 1, ["CPUExecutionProvider"]).run(None, {"image": x})[0]
    err = float(np.abs(got - expected).max())
    if not err <= _PARITY_ATOL * max(1.0, float(np.abs(expected).max())):
        raise RuntimeError(
            f"the ONNX export of the embedder differs from torch by {err:.2g}; use "
            "make_embedder(backend='torch') and report this (torch/onnxruntime versions)"
        )


def _ort_session(path: Path, threads: int | None, providers: list[str]):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=providers)

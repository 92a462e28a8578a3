"""Image embeddings for the quality scan: a pretrained backbone as a feature extractor.

An :class:`Embedder` turns RGB images into L2-normalised float32 vectors (globally pooled
features of the backbone's last stages, see ``cvnb.quality._embed_net.PooledFeatures``). Near-duplicate search, outlier
scores and the label-issue probe all work on these vectors (:mod:`cvnb.quality._semantic`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cvnb._extras import require_extra
from cvnb._weights import OFFLINE_DEFAULT
from cvnb.device import onnx_providers, pick_device

from ._embed_consts import FEATURE_SETS
from ._embed_index import embedder_folder, read_entry, write_entry
from ._ort import ort_session

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
#: ``"auto"`` picks the faster one here (see ``_AUTO_BACKEND``).
BACKENDS = ("auto", "onnxruntime", "torch")

# Measured here on CPU, one thread, batches of 32 (rough: 2 cores shared with other jobs),
# images/s torch vs onnxruntime: 64 px 88 vs 115-150, 96 px 42-48 vs 87-104, 128 px 28-32
# vs 51-57. Outputs agree to ~4e-7 (cosine > 1 - 1e-6), so the backend is not in the key.
_AUTO_BACKEND = "onnxruntime"
# Bump when preprocessing changes in a way that changes the vectors (it enters the key).
_PREPROCESS_VERSION = 1
_BATCH_PIXELS = 32 * 96 * 96  # input pixels a batch when batch_size is None
_MEAN_STD = 0.5  # Lite0's normalisation; other timm models bring their own pretrained_cfg


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
        layers: The backbone layers those features pool (``"blocks3-6"``, ``"head"``, ...).
        backend: ``"onnxruntime"`` or ``"torch"`` (resolved, never ``"auto"``).
        dim: Length of each vector (704 for Lite0).
        key: Identifies model, size, weights (a digest) and preprocessing, so cached vectors
            are reused only when they would come out the same. The backend is not part of
            it: both give the same vectors to ~1e-6.
        batch_size: Images per forward pass.
        onnx_path: The cached ONNX file (onnxruntime backend), else None.
        device: Where it runs: the first onnxruntime provider, or the torch device.

    Threads: torch uses ``torch.get_num_threads()``; onnxruntime uses ``threads`` as given to
    :func:`make_embedder`, or ``torch.get_num_threads()`` at creation when None and torch is
    imported, so one setting governs both (without torch: the CPU count, at most 4).
    """

    def __init__(
        self,
        module: Any,
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
        import torch  # an Embedder wraps a torch module: make_embedder checked the extra

        from ._embed_net import onnx_file

        self._module = module.eval()
        with torch.inference_mode():
            dim = int(module(torch.zeros(1, 3, size, size)).shape[1])
        self._setup(
            model=model,
            size=size,
            resize=resize,
            features=getattr(module, "features", "stages"),
            layers=module.layers,
            mean=mean,
            std=std,
            weights=weights,
            dim=dim,
            backend=backend,
            batch_size=batch_size,
        )
        if backend == "onnxruntime":
            self.onnx_path = onnx_file(self._module, model, size, weights)
            self._open_session(threads or torch.get_num_threads(), device)
            write_entry(
                model,
                size,
                self.features,
                {
                    "onnx": self.onnx_path.name,
                    "layers": self.layers,
                    "weights": weights,
                    "mean": list(mean),
                    "std": list(std),
                    "dim": dim,
                },
            )
        else:
            self._device = pick_device(device)
            self._module.to(self._device)
            self.device = str(self._device)

    @classmethod
    def _from_export(
        cls,
        entry: dict[str, Any],
        *,
        model: str,
        size: int,
        resize: str,
        features: str,
        batch_size: int,
        threads: int | None,
        device: str | None,
    ) -> Embedder:
        """An onnxruntime embedder over a cached export (see ``_embed_index``): no torch."""
        self = cls.__new__(cls)
        self._module = None
        self._setup(
            model=model,
            size=size,
            resize=resize,
            features=features,
            layers=str(entry["layers"]),
            mean=tuple(float(v) for v in entry["mean"]),
            std=tuple(float(v) for v in entry["std"]),
            weights=str(entry["weights"]),
            dim=int(entry["dim"]),
            backend="onnxruntime",
            batch_size=batch_size,
        )
        self.onnx_path = embedder_folder() / str(entry["onnx"])
        torch = sys.modules.get("torch")
        self._open_session(threads or (torch.get_num_threads() if torch else None), device)
        return self

    def _setup(
        self,
        *,
        model: str,
        size: int,
        resize: str,
        features: str,
        layers: str,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        weights: str,
        dim: int,
        backend: str,
        batch_size: int,
    ) -> None:
        self.model = model
        self.size = size
        self.resize = resize
        self.features = features
        self.layers = layers
        self.backend = backend
        self.batch_size = batch_size
        self.dim = dim
        # (x / 255 - mean) / std as x * scale + offset, per channel
        self._scale = (1.0 / (255.0 * np.asarray(std, dtype=np.float64))).astype(np.float32)
        self._offset = (-np.asarray(mean, dtype=np.float64) / np.asarray(std)).astype(np.float32)
        norm = ",".join(f"{m:g}/{s:g}" for m, s in zip(mean, std, strict=True))
        self.key = (
            f"{model}|size={size}|resize={resize}|norm={norm}|features={layers}"
            f"|weights={weights}|pre=v{_PREPROCESS_VERSION}"
        )
        self.onnx_path: Path | None = None
        self._session = None
        self._device = None

    def _open_session(self, threads: int | None, device: str | None) -> None:
        self._session = ort_session(self.onnx_path, threads, onnx_providers(device))
        self.device = self._session.get_providers()[0]

    def __repr__(self) -> str:
        return f"Embedder({self.key!r}, backend={self.backend!r}, dim={self.dim})"

    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL images → normalised float32 ``(n, 3, size, size)``."""
        batch = np.stack([_resize(im, self.size, self.resize) for im in images])
        # One pass per channel, straight from uint8 into the NCHW float32 array: 10x faster
        # than converting, transposing and normalising in whole-array steps (0.8 s of a
        # 574-photo scan at 224 px).
        x = np.empty((len(batch), 3, self.size, self.size), dtype=np.float32)
        for c in range(3):
            np.multiply(batch[..., c], self._scale[c], out=x[:, c], casting="unsafe")
            x[:, c] += self._offset[c]
        return x

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
        import torch

        with torch.inference_mode():
            return self._module(torch.from_numpy(x).to(self._device)).float().cpu().numpy()


def make_embedder(
    model: str = OFFLINE_DEFAULT,
    *,
    size: int = DEFAULT_EMBED_SIZE,
    backend: str = "auto",
    resize: str = "squish",
    features: str = "stages",
    batch_size: int | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> Embedder:
    """An :class:`Embedder` over a pretrained timm backbone.

    The default backbone, ``tf_efficientnet_lite0``, has ImageNet weights that ship with an
    installed package, so this works offline. For the onnxruntime backend the feature
    extractor is exported to ONNX once per model, size and weights and cached under
    ``cvnb.datasets.cache_dir() / "quality" / "embedders"`` (written atomically, checked
    against torch when written). For a backbone whose weights ship as an installed file
    (the default), the export is indexed by that file and the library versions, and later
    calls open it with onnxruntime alone, without importing torch or timm.

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
        batch_size: Images per forward pass (None: about 300,000 input pixels a batch, 32
            images at 96 px, 6 at 224 px). onnxruntime ran Lite0 at the same speed with 4
            to 32 images a batch at 224 px (9.0-9.5 ms an image, 2 threads), while its peak
            memory grew from 0.3 GB (4 or 6 images) to 1.1 GB (32).
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
        cvnb._extras.MissingExtraError: torch or timm is not installed (the ``train``
            extra); ``scan_quality(df, embedder=False)`` runs the other checks without them.

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
    if batch_size is None:
        batch_size = max(4, round(_BATCH_PIXELS / int(size) ** 2))
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if features not in FEATURE_SETS:
        raise ValueError(f"features must be one of {FEATURE_SETS}, got {features!r}")
    resolved = _AUTO_BACKEND if backend == "auto" else backend
    entry = read_entry(model, int(size), features) if resolved == "onnxruntime" else None
    if entry is not None:
        return Embedder._from_export(
            entry,
            model=model,
            size=int(size),
            resize=resize,
            features=features,
            batch_size=batch_size,
            threads=threads,
            device=device,
        )
    require_extra("train", "the scan's embeddings (make_embedder)", "torch", "timm")
    from cvnb.models import create_backbone

    from ._embed_net import PooledFeatures, weights_digest

    net = create_backbone(model, num_classes=0, pretrained=True)
    cfg = getattr(net, "pretrained_cfg", {}) or {}
    mean = tuple(float(v) for v in cfg.get("mean", (_MEAN_STD,) * 3))
    std = tuple(float(v) for v in cfg.get("std", (_MEAN_STD,) * 3))
    return Embedder(
        PooledFeatures(net, features),
        model=model,
        size=int(size),
        resize=resize,
        mean=mean,
        std=std,
        backend=resolved,
        batch_size=batch_size,
        threads=threads,
        weights=weights_digest(net),
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

"""The model as a function of [0, 1] images, batched and counted: torch or onnxruntime."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cvnb.device import onnx_providers, pick_device

RUNTIMES = ("auto", "torch", "onnxruntime")
#: Pixels per model call: 32 images at 224 px (and proportionally more at smaller sizes).
_BATCH_PIXELS = 32 * 224 * 224


class Normalized(nn.Module):
    """``model((x - mean) / std)``: the model taking [0, 1] RGB, as the export does."""

    def __init__(self, model: nn.Module, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model((image - self.mean) / self.std)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Every module in eval mode inside, each one's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def batch_size(size: int) -> int:
    """Images per model call at side ``size``."""
    return max(1, _BATCH_PIXELS // (size * size))


class ModelFn:
    """Softmax probabilities of a batch of ``(N, S, S, 3)`` [0, 1] images, counted.

    Probabilities are those the model reports: ``softmax(logits / T)`` with the learner's
    fitted temperature (:func:`cvnb.evaluate.fit_temperature`; 1 by default), on both paths.

    Attributes:
        runtime: ``"torch"`` or ``"onnxruntime"``.
        n_calls: Images run through the model so far.
    """

    def __init__(self, learn, runtime: str = "torch", model: nn.Module | None = None):
        if runtime not in ("torch", "onnxruntime"):
            raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
        self.runtime = runtime
        self.n_calls = 0
        self._learn = learn
        cfg = learn.cvnb_config
        self._size = int(cfg.img_size)
        if runtime == "torch":
            self._model = model if model is not None else learn.model
            self._device = pick_device(learn=learn) if model is None else _device_of(model)
            self._norm = Normalized(nn.Identity(), cfg.mean, cfg.std).to(self._device)
            # A fitted temperature divides the logits, as in the ONNX graph (which has it).
            self._temperature = float(getattr(cfg, "temperature", 1.0) or 1.0)
        else:
            self._session = onnx_session(learn)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[None]
        step = batch_size(max(images.shape[1:3]))
        out = [self._run(images[i : i + step]) for i in range(0, len(images), step)]
        self.n_calls += len(images)
        logits = np.concatenate(out).astype(np.float64)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        nchw = np.ascontiguousarray(chunk.transpose(0, 3, 1, 2))
        if self.runtime == "onnxruntime":
            return self._session.run(["logits"], {"image": nchw})[0]
        x = torch.from_numpy(nchw).to(self._device)
        with torch.inference_mode(), eval_mode(self._model):
            logits = self._model(self._norm(x)).float()
            return (logits / self._temperature).cpu().numpy()


def _device_of(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def onnx_path(learn) -> Path:
    """Where the learner's current weights are exported for onnxruntime (a cache).

    Named by a digest of the config and every weight, so a retrained model gets a new file.
    The folder is cvnb's cache (:func:`cvnb.datasets.cache_dir`), never the image folder.
    """
    from cvnb.datasets import cache_dir

    digest = hashlib.sha256(json.dumps(learn.cvnb_config.to_dict(), sort_keys=True).encode())
    digest.update(torch.__version__.encode())
    for name, tensor in learn.model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return cache_dir() / "explain" / f"{digest.hexdigest()[:24]}.onnx"


_SESSIONS: OrderedDict[tuple, object] = OrderedDict()  # a viewer asks again and again
_MAX_SESSIONS = 4


def onnx_session(learn):
    """An onnxruntime session of the learner's model, exported once into the cache.

    The export (``cvnb.export.export_onnx``, no parity run) happens the first time these
    weights are explained; sessions are kept for the last few models.
    """
    import onnxruntime as ort

    path = onnx_path(learn)
    if not path.is_file():
        from cvnb.export import export_onnx

        export_onnx(learn, path, parity=False)
    device = pick_device(learn=learn)
    providers = tuple(onnx_providers("cuda" if device.type == "cuda" else "cpu"))
    key = (str(path), torch.get_num_threads(), providers)
    if key not in _SESSIONS:
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        _SESSIONS[key] = ort.InferenceSession(
            str(path), sess_options=options, providers=list(providers)
        )
        while len(_SESSIONS) > _MAX_SESSIONS:
            _SESSIONS.popitem(last=False)
    _SESSIONS.move_to_end(key)
    return _SESSIONS[key]


def resolve_runtime(learn, runtime: str, method: str) -> str:
    """The path a method's model calls take.

    Grad-CAM needs gradients and always runs in torch. ``"auto"``: onnxruntime when the
    learner's model is on the CPU (exported once per weights into the cache; 3-6×
    faster than torch eager for Lite0 on 2 cores here, ``bench/explain.py``), torch on a GPU.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
    if method == "gradcam":
        return "torch"
    if runtime != "auto":
        return runtime
    return "onnxruntime" if pick_device(learn=learn).type == "cpu" else "torch"

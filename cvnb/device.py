"""One device rule for everything cvnb runs: the learner's device, else CUDA, MPS, the CPU.

Training already follows fastai (CUDA when there is one). Everything else that runs a model
outside a training loop — the quality scan's embedder, the LR and batch-size finders, the
probe head, the ONNX parity check, predictions — asks :func:`pick_device`, so that a
researcher with a GPU gets it everywhere and a laptop falls back to the CPU without a
setting. onnxruntime sessions ask :func:`onnx_providers`: its CUDA provider when
``onnxruntime-gpu`` is installed and a CUDA device is wanted, the CPU provider otherwise.

torch is imported only when a function needs it, so ``import cvnb.device`` stays light on a
serving host without torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["autocast_dtype", "onnx_providers", "pick_device"]

_CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(device: Any = None, learn: Any = None) -> Any:
    """The ``torch.device`` to run on.

    Args:
        device: ``None`` or ``"auto"``: follow ``learn`` when given, else the first available
            of CUDA, MPS, the CPU. A ``torch.device`` or a string such as ``"cuda:1"``,
            ``"mps"``, ``"cpu"``: that device (an unavailable one raises).
        learn: A fastai ``Learner`` (or any object with ``.model``): its parameters' device
            wins when ``device`` is not given, so a helper never moves a model behind the
            user's back.

    Returns:
        A ``torch.device``.

    Raises:
        ValueError: ``device`` names a device this machine does not have.

    Example:
        >>> pick_device("cpu")
        device(type='cpu')
    """
    import torch

    if device is not None and device != "auto":
        chosen = torch.device(device)
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r}, but torch sees no CUDA device here; "
                "pass device='cpu' or leave device unset to pick automatically"
            )
        if chosen.type == "mps" and not _mps_available():
            raise ValueError(
                f"device={device!r}, but MPS is not available here; "
                "pass device='cpu' or leave device unset to pick automatically"
            )
        return chosen
    model = getattr(learn, "model", None)
    if model is not None:
        param = next(iter(model.parameters()), None)
        if param is not None:
            return param.device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast_dtype(device: Any) -> Any:
    """The mixed-precision dtype worth using on ``device``, or None for full precision.

    bfloat16 on CUDA devices that support it (no loss scaling needed), float16 on older CUDA
    devices; None on the CPU and MPS, where autocast is slower or unsupported for these
    models.
    """
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def onnx_providers(device: Any = None) -> list[str]:
    """onnxruntime execution providers for ``device``, best first.

    ``device=None``/``"auto"`` uses CUDA when both torch-free checks agree: onnxruntime
    lists ``CUDAExecutionProvider`` (``onnxruntime-gpu`` is installed). ``"cpu"`` always
    gives the CPU provider alone. The CPU provider is always last, so a session still loads
    when the CUDA libraries are missing at run time.
    """
    import onnxruntime as ort

    kind = str(device).split(":")[0] if device is not None else "auto"
    if kind not in _CHOICES:
        raise ValueError(f"device must be one of {_CHOICES} (or 'cuda:N'), got {device!r}")
    available = ort.get_available_providers()
    if kind in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if kind == "cuda":
        raise ValueError(
            "device='cuda' for onnxruntime needs the onnxruntime-gpu package "
            "(pip install onnxruntime-gpu); leave device unset to use the CPU"
        )
    return ["CPUExecutionProvider"]


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())

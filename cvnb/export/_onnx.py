"""ONNX export of a trained classifier, with its preprocessing recorded in the file."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import torch
from torch import nn

from ._parity import ParityReport, parity_report
from ._runtime import CONFIG_KEY


class _Normalized(nn.Module):
    """The model with its input normalization inside, so the ONNX file takes [0, 1] RGB.

    With a temperature other than 1 the logits are divided by it (one ``Div`` node at the
    end of the graph), so the file's softmax gives the calibrated probabilities. At
    ``T = 1`` no node is added: the graph is the one cvnb exported before temperatures.
    """

    def __init__(
        self,
        model: nn.Module,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        temperature: float = 1.0,
    ):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.scaled = temperature != 1.0
        if self.scaled:
            self.register_buffer("temperature", torch.tensor(temperature, dtype=torch.float32))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.model((image - self.mean) / self.std)
        return logits / self.temperature if self.scaled else logits


@dataclass
class OnnxExport:
    """The result of :func:`export_onnx`.

    Attributes:
        path: Where the ``.onnx`` file was written.
        config: The preprocessing and classes recorded in the file's metadata.
        opset: ONNX opset of the graph.
        size_bytes: File size.
        parity: Torch-versus-onnxruntime comparison on validation images (None if skipped).
    """

    path: Path
    config: dict
    opset: int
    size_bytes: int
    parity: ParityReport | None = field(default=None)


def export_onnx(
    learn,
    path: str | os.PathLike,
    *,
    opset: int = 18,
    dynamo: bool = True,
    parity: bool = True,
    max_images: int | None = 512,
) -> OnnxExport:
    """Export a trained learner's model to ONNX, check it, and measure parity.

    The exported graph takes a float32 batch ``image`` of shape ``(N, 3, S, S)``, RGB in
    [0, 1] (batch size dynamic, ``S`` = ``learn.cvnb_config.img_size``), and returns
    ``logits`` ``(N, n_classes)``; the normalization is inside the graph. The learner's
    :class:`cvnb.train.LearnerConfig` (architecture, input size, resize policy and fill,
    the augmentation pipeline whose deterministic ``valid`` part is the preprocessing,
    mean/std, class names) is written as JSON into the file's ``metadata_props`` under
    ``"cvnb_config"``, so the file alone says how to feed it (:func:`load_onnx` reads it and
    applies that preprocessing).

    A temperature fitted by :func:`cvnb.evaluate.fit_temperature`
    (``learn.cvnb_config.temperature``, recorded in the metadata too) is folded into the
    graph: ``logits`` are then the model's logits divided by ``T``, so their softmax (and
    :meth:`cvnb.export.OnnxClassifier.predict`) gives calibrated probabilities. At ``T = 1``
    the graph has no extra node.

    The file is validated with ``onnx.checker`` and written atomically: an existing file at
    ``path`` is replaced only once the new one is complete and valid.

    Args:
        learn: A ``Learner`` from :func:`cvnb.train.make_learner`.
        path: Destination ``.onnx`` file; parent folders are created.
        opset: ONNX opset version.
        dynamo: Use torch's ``torch.export``-based exporter (the supported one); ``False``
            uses the older TorchScript exporter, which is faster to run but deprecated.
        parity: Run the validation set through both torch and onnxruntime and report
            the difference (:func:`cvnb.export.parity_report`).
        max_images: Cap on validation images used for parity (None: all).

    Returns:
        An :class:`OnnxExport`.
    """
    config = getattr(learn, "cvnb_config", None)
    if config is None:
        raise ValueError(
            "export_onnx needs a Learner from cvnb.train.make_learner (it records the "
            "preprocessing the exported model expects as learn.cvnb_config)"
        )
    cfg = config.to_dict()
    # A CPU copy: the learner's own model keeps its device and train/eval mode.
    temperature = _checked_temperature(getattr(config, "temperature", 1.0))
    wrapped = _Normalized(copy.deepcopy(learn.model), config.mean, config.std, temperature)
    wrapped = wrapped.cpu().eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".onnx", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _torch_export(wrapped, tmp, config.img_size, opset=opset, dynamo=dynamo)
        proto = onnx.load(tmp)
        onnx.helper.set_model_props(proto, {CONFIG_KEY: json.dumps(cfg)})
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    report = parity_report(learn, path, max_images=max_images) if parity else None
    return OnnxExport(
        path=path, config=cfg, opset=opset, size_bytes=path.stat().st_size, parity=report
    )


def _checked_temperature(value) -> float:
    temperature = float(value)
    if not (temperature > 0 and temperature < float("inf")):
        raise ValueError(
            f"learn.cvnb_config.temperature must be a positive finite number, got {value!r}; "
            "fit one with cvnb.evaluate.fit_temperature(learn) or set it back to 1.0"
        )
    return temperature


def _torch_export(model: nn.Module, path: Path, size: int, *, opset: int, dynamo: bool) -> None:
    example = (torch.rand(2, 3, size, size),)
    kwargs: dict = {
        "input_names": ["image"],
        "output_names": ["logits"],
        "opset_version": opset,
        "dynamo": dynamo,
    }
    if dynamo:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
        kwargs["verbose"] = False
    else:
        kwargs["dynamic_axes"] = {"image": {0: "batch"}, "logits": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(model, example, str(path), **kwargs)
    if dynamo and Path(f"{path}.data").exists():  # weights inline, one self-contained file
        proto = onnx.load(path)
        onnx.save(proto, path, save_as_external_data=False)
        Path(f"{path}.data").unlink()

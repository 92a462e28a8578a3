"""Does the exported model compute what the trained one does? Measured, not assumed."""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass
class ParityReport:
    """Torch versus onnxruntime on the same inputs.

    Attributes:
        n_images: Images compared.
        max_abs_diff: Largest absolute difference of any logit.
        mean_abs_diff: Mean absolute logit difference.
        top1_agreement: Fraction of images whose arg-max class agrees (1.0 = all).
        atol: Tolerance used by :attr:`ok`.
    """

    n_images: int
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    atol: float = 1e-3

    @property
    def ok(self) -> bool:
        """All top-1 classes agree and no logit differs by more than ``atol``."""
        return self.top1_agreement == 1.0 and self.max_abs_diff <= self.atol

    def to_dict(self) -> dict:
        """A JSON-ready dict (``ok`` included)."""
        return {**asdict(self), "ok": self.ok}


def parity_report(
    learn,
    onnx_path: str | os.PathLike,
    *,
    dl=None,
    max_images: int | None = 512,
    atol: float = 1e-3,
    device=None,
) -> ParityReport:
    """Compare a learner's model with its ONNX export on real validation images.

    Each batch of ``dl`` (default: ``learn.dls.valid``) is brought back to the [0, 1] RGB
    input the ONNX graph takes, then fed to the torch model (with its normalization) and to
    onnxruntime; logits are compared. The torch logits are divided by the learner's
    temperature (``learn.cvnb_config.temperature``, 1.0 by default), as the export does, so
    a file exported before the temperature changed fails the check.

    Args:
        learn: The ``Learner`` that was exported (from :func:`cvnb.train.make_learner`).
        onnx_path: The exported file.
        dl: A fastai DataLoader to draw images from (default: the validation loader).
        max_images: Stop after this many images (None: the whole loader).
        atol: Tolerance for :attr:`ParityReport.ok`.
        device: Where the torch reference runs (:func:`cvnb.device.pick_device`; default:
            the learner's device); onnxruntime uses the matching providers
            (:func:`cvnb.device.onnx_providers`: CUDA with ``onnxruntime-gpu``, else CPU).
            Both run in float32.

    Raises:
        ValueError: ``device`` names a device this machine does not have, or the loader
            is empty.
    """
    from cvnb.device import onnx_providers, pick_device

    from ._runtime import load_onnx

    device = pick_device(device, learn=learn)
    providers = onnx_providers("cuda" if device.type == "cuda" and _ort_cuda() else "cpu")
    session = load_onnx(onnx_path, providers=providers).session
    config = learn.cvnb_config
    mean = torch.tensor(config.mean).view(1, -1, 1, 1)
    std = torch.tensor(config.std).view(1, -1, 1, 1)
    temperature = float(getattr(config, "temperature", 1.0))
    model = copy.deepcopy(learn.model).to(device).eval()  # the learner's model stays as it was
    diffs, agree, n = [], 0, 0
    with torch.no_grad():
        for xb, *_ in dl if dl is not None else learn.dls.valid:
            x01 = (xb.as_subclass(torch.Tensor).cpu() * std + mean).float()
            if max_images is not None:
                x01 = x01[: max_images - n]
            logits = model(((x01 - mean) / std).to(device)).float().cpu()
            reference = (logits / temperature).numpy()
            exported = session.run(["logits"], {"image": x01.numpy()})[0]
            diffs.append(np.abs(reference - exported).ravel())
            agree += int((reference.argmax(1) == exported.argmax(1)).sum())
            n += len(x01)
            if max_images is not None and n >= max_images:
                break
    if n == 0:
        raise ValueError("no images to compare: the data loader is empty")
    alld = np.concatenate(diffs)
    return ParityReport(
        n_images=n,
        max_abs_diff=float(alld.max()),
        mean_abs_diff=float(alld.mean()),
        top1_agreement=agree / n,
        atol=atol,
    )


def _ort_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()

"""Run an exported classifier with onnxruntime, preprocessing exactly as in validation."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from PIL import Image

CONFIG_KEY = "cvnb_config"


class OnnxClassifier:
    """An exported cvnb classifier loaded in onnxruntime.

    Attributes:
        path: The ``.onnx`` file.
        config: Its recorded preprocessing and classes (see :func:`cvnb.export.export_onnx`).
        classes: Class names in output order.
        session: The ``onnxruntime.InferenceSession``.

    Example:
        >>> clf = load_onnx("runs/demo/model.onnx")  # doctest: +SKIP
        >>> clf.predict(["some.png"])  # doctest: +SKIP
    """

    def __init__(
        self, path: str | os.PathLike, providers: Sequence[str] | None = None, device=None
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no ONNX file at {self.path}; export one with export_onnx")
        meta = {
            p.key: p.value for p in onnx.load(self.path, load_external_data=False).metadata_props
        }
        if CONFIG_KEY not in meta:
            raise ValueError(
                f"{self.path} has no {CONFIG_KEY!r} metadata: it was not written by "
                "cvnb.export.export_onnx, so its preprocessing is unknown"
            )
        self.config: dict = json.loads(meta[CONFIG_KEY])
        self.classes: list[str] = list(self.config["classes"])
        self._valid = None  # the validation preprocessing, built on first use
        if providers is None:
            from cvnb.device import onnx_providers

            providers = onnx_providers(device)
        self.session = ort.InferenceSession(str(self.path), providers=list(providers))

    def preprocess(self, images: Sequence[str | os.PathLike | Image.Image]) -> np.ndarray:
        """Images (paths or PIL) → float32 ``(N, 3, S, S)`` in [0, 1], as in validation.

        Reads with cvnb's robust reader and applies the training pipeline's deterministic
        ``valid`` part recorded in the file (resize policy, fill and any normalization
        steps), so the exported model sees what the trained one saw. Files exported before
        pipelines were recorded fall back to fastai's validation-time ``Resize``.
        """
        from cvnb.data import read_image

        out = []
        for image in images:
            array = self._valid_transform(np.asarray(read_image(image)))
            out.append(array.astype(np.float32).transpose(2, 0, 1) / 255.0)
        return np.stack(out)

    def _valid_transform(self, image: np.ndarray) -> np.ndarray:
        if self._valid is None:
            if self.config.get("pipeline") is not None:
                from cvnb.augment import Pipeline

                compose = Pipeline.from_dict(self.config["pipeline"]).valid
                self._valid = lambda x: compose(image=x)["image"]
            else:  # exported by an earlier cvnb: fastai's Resize by method name
                from fastai.vision.augment import Resize
                from fastai.vision.core import PILImage

                from cvnb.train._learner import RESIZE_METHODS

                size, method = self.config["img_size"], RESIZE_METHODS[self.config["resize"]]
                resize = Resize(size, method=method)
                self._valid = lambda x: np.asarray(resize(PILImage.create(x), split_idx=1))
        return self._valid(image)

    def predict_proba(self, images: Sequence[str | os.PathLike | Image.Image]) -> np.ndarray:
        """Softmax probabilities, ``(N, n_classes)``."""
        logits = self.session.run(["logits"], {"image": self.preprocess(images)})[0]
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, images: Sequence[str | os.PathLike | Image.Image]) -> pd.DataFrame:
        """One row per image: ``label`` (top-1 class) and ``prob`` (its probability)."""
        proba = self.predict_proba(images)
        top = proba.argmax(axis=1)
        return pd.DataFrame(
            {"label": [self.classes[i] for i in top], "prob": proba[np.arange(len(top)), top]}
        )


def load_onnx(
    path: str | os.PathLike, providers: Sequence[str] | None = None, *, device=None
) -> OnnxClassifier:
    """Load a file written by :func:`cvnb.export.export_onnx` for inference.

    Args:
        path: The ``.onnx`` file.
        providers: onnxruntime execution providers; None: :func:`cvnb.device.onnx_providers`
            for ``device`` (CUDA when ``onnxruntime-gpu`` is installed, else the CPU).
        device: ``None``/``"auto"``, ``"cpu"`` or ``"cuda"`` (see
            :func:`cvnb.device.onnx_providers`; ``"cuda"`` without ``onnxruntime-gpu``
            raises ``ValueError``).
    """
    return OnnxClassifier(path, providers, device)

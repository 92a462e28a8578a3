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

    def __init__(self, path: str | os.PathLike, providers: Sequence[str] | None = None):
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
        self.session = ort.InferenceSession(
            str(self.path), providers=list(providers or ["CPUExecutionProvider"])
        )

    def preprocess(self, images: Sequence[str | os.PathLike | Image.Image]) -> np.ndarray:
        """Images (paths or PIL) → float32 ``(N, 3, S, S)`` in [0, 1], as in validation.

        Uses the robust reader and fastai's own validation-time ``Resize``, so the exported
        model sees what the trained one saw.
        """
        from fastai.vision.augment import Resize
        from fastai.vision.core import PILImage

        from cvnb.data import read_image
        from cvnb.train import RESIZE_METHODS

        resize = Resize(self.config["img_size"], method=RESIZE_METHODS[self.config["resize"]])
        out = []
        for image in images:
            resized = resize(PILImage.create(read_image(image)), split_idx=1)
            out.append(np.asarray(resized, dtype=np.float32).transpose(2, 0, 1) / 255.0)
        return np.stack(out)

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


def load_onnx(path: str | os.PathLike, providers: Sequence[str] | None = None) -> OnnxClassifier:
    """Load a file written by :func:`cvnb.export.export_onnx` for inference."""
    return OnnxClassifier(path, providers)

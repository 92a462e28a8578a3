"""What the model sees: an image (path, PIL or table row) through the validation pipeline."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from PIL import Image

from cvnb.data import read_image


@dataclass
class ModelInput:
    """One image, read and preprocessed exactly as validation (and export) does it.

    Attributes:
        original: The image as read (RGB, EXIF-oriented), untouched.
        shown: The model's input as an image: the pipeline's deterministic ``valid`` part
            (resize policy, letterbox borders included), ``S×S``.
        array: ``shown`` as float32 ``(S, S, 3)`` in [0, 1], before normalization.
    """

    original: Image.Image
    shown: Image.Image
    array: np.ndarray


def model_input(learn, image) -> ModelInput:
    """Read ``image`` and apply the learner's deterministic validation pipeline.

    Args:
        learn: A ``Learner`` from :func:`cvnb.train.make_learner`.
        image: A path, a ``PIL.Image.Image``, or a table row (``pandas.Series`` with ``path``).

    Raises:
        cvnb.data.ImageReadError: The file cannot be read (the reader's own message).
        TypeError: ``image`` is none of the above.
    """
    _check_learner(learn)
    original = read_image(_source(image))
    compose = learn.cvnb_pipeline.valid
    shown = np.ascontiguousarray(compose(image=np.asarray(original))["image"])
    return ModelInput(
        original=original,
        shown=Image.fromarray(shown),
        array=shown.astype(np.float32) / 255.0,
    )


def _source(image) -> str | os.PathLike | Image.Image:
    if isinstance(image, Image.Image | str | os.PathLike):
        return image
    if isinstance(image, pd.Series | dict):
        if "path" not in image:
            raise TypeError("a table row needs a 'path' column (cvnb.data.load_images adds it)")
        return image["path"]
    raise TypeError(
        f"image must be a path, a PIL image or a table row with 'path', got {type(image).__name__}"
    )


def _check_learner(learn) -> None:
    if getattr(learn, "cvnb_config", None) is None or not hasattr(learn, "cvnb_pipeline"):
        raise ValueError(
            "cvnb.explain needs a Learner from cvnb.train.make_learner (it records the "
            "preprocessing as learn.cvnb_config and learn.cvnb_pipeline)"
        )


def classes(learn) -> list[str]:
    """The learner's class names, in output order."""
    return [str(c) for c in learn.dls.vocab]


def target_index(learn, target, probs: np.ndarray) -> int:
    """The output index of ``target`` (a class name, or None for the predicted class).

    Raises:
        ValueError: ``target`` is not one of the learner's classes; the message names them.
    """
    names = classes(learn)
    if target is None:
        return int(np.argmax(probs))
    if isinstance(target, int | np.integer) and not isinstance(target, bool):
        if str(target) in names:  # a class named "3" given as 3
            return names.index(str(target))
        raise ValueError(f"target {target!r} is not a class; the classes are {names}")
    if str(target) not in names:
        raise ValueError(f"target {target!r} is not a class; the classes are {names}")
    return names.index(str(target))

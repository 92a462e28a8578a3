"""Preview draws for the augmentation explorer: cached, seeded, with the applied parameters.

Pure logic, no widget imports. A :class:`PreviewSession` holds the explorer's images and
draws a pipeline's training steps on them; only what a change touches is recomputed.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import albumentations as A
import cv2
import numpy as np
from PIL import Image

from ._explore import ExplorerPlan, ExplorerSpecError
from ._mix import mix_images
from ._pipeline import Pipeline, applied_params, as_rgb_array, seed_compose

__all__ = ["Draws", "PreviewSession", "SampledImages", "encode_array", "sample_images"]

# Resize steps that are deterministic at p=1: their output is cached per image.
_DETERMINISTIC = (A.Resize, A.LongestMaxSize, A.SmallestMaxSize, A.PadIfNeeded, A.CenterCrop)


@dataclass
class Draws:
    """What :meth:`PreviewSession.draw` returns.

    Attributes:
        images: Encoded thumbnails, image-major: draw ``k`` of image ``i`` at ``i * K + k``.
        applied: One dict per thumbnail: ``image``, ``draw`` and ``transforms`` (per step
            that fired, in order, the parameters it drew; see ``Pipeline.preview``).
        first: The first draw of each image as RGB arrays (for the mix preview).
        seconds: Time spent.
    """

    images: list[bytes]
    applied: list[dict[str, Any]]
    first: list[np.ndarray] = field(repr=False)
    seconds: float


class PreviewSession:
    """The explorer's images, cached so that a changed setting re-runs only the draws.

    Images are decoded once; their resize (the deterministic start of the training steps)
    is cached per size/policy/fill; thumbnails are cached by content, so a draw that comes
    out unchanged is not encoded again. Draw ``k`` of image ``i`` is seeded by
    ``(seed, i, k)`` and equals ``pipeline.apply(image, split="train", seed=[seed, i, k])``:
    the explorer shows exactly what training does.

    Args:
        images: Paths, PIL images or RGB ``uint8`` arrays.
        max_side: Thumbnails larger than this are shrunk for display (not for the draw).
        quality: JPEG quality of the thumbnails (images of at most 96 px go as PNG).
    """

    def __init__(self, images: Sequence[Any], *, max_side: int = 384, quality: int = 80) -> None:
        self.images = [as_rgb_array(im) for im in images]
        self.max_side = max_side
        self.quality = quality
        self._bases: OrderedDict[str, list[np.ndarray]] = OrderedDict()
        self._encoded: OrderedDict[bytes, bytes] = OrderedDict()

    def originals(self, max_size: int = 256) -> list[bytes]:
        """Thumbnails of the images as they are (aspect kept), for side-by-side display."""
        from cvnb.data import encode_thumbnail

        out = []
        for array in self.images:
            fmt = "PNG" if max(array.shape[:2]) <= 96 else "JPEG"
            out.append(encode_thumbnail(Image.fromarray(array), max_size=max_size, fmt=fmt))
        return out

    def draw(self, pipeline: ExplorerPlan | Pipeline, draws: int = 3, seed: int = 0) -> Draws:
        """``draws`` seeded random draws of the training steps on every image.

        Args:
            pipeline: An :class:`ExplorerPlan` (its fresh steps are used as they are) or a
                :class:`~cvnb.augment.Pipeline` (copied, so it is not reseeded).
            draws: Draws per image.
            seed: Seed; draw ``k`` of image ``i`` uses ``(seed, i, k)``.

        Raises:
            ExplorerSpecError: The steps fail on an image, or do not return an RGB
                ``uint8`` image of ``size`` × ``size``.
        """
        start = time.perf_counter()
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise ExplorerSpecError(f"draws must be a whole number of at least 1, got {draws!r}")
        if isinstance(pipeline, Pipeline):
            steps = copy.deepcopy(list(pipeline.train.transforms))
        else:
            steps = list(pipeline.train_steps)
        k = 0
        while k < len(steps) and isinstance(steps[k], _DETERMINISTIC) and steps[k].p >= 1:
            k += 1
        bases = self._resized(steps[:k])
        compose = A.Compose(steps[k:], save_applied_params=True)
        images, applied, first = [], [], []
        for i, base in enumerate(bases):
            for j in range(draws):
                out = self._run(seed_compose(compose, [seed, i, j]), base, i, pipeline.size)
                images.append(self._encode(out["image"]))
                applied.append({"image": i, "draw": j, "transforms": applied_params(out)})
                if j == 0:
                    first.append(out["image"])
        return Draws(images, applied, first, time.perf_counter() - start)

    def mix(
        self, arrays: Sequence[np.ndarray], mix: str | None, alpha: float = 0.4, seed: int = 0
    ) -> tuple[list[bytes], list[dict[str, Any]]]:
        """Mix ``arrays`` (e.g. :attr:`Draws.first`) as fastai's MixUp/CutMix would.

        Returns:
            Encoded thumbnails and, per image, ``{"mix", "lam", "partner"}`` (+ ``"box"``
            for CutMix); empty lists when ``mix`` is None/``"none"``.
        """
        if mix in (None, "", "none") or not arrays:
            return [], []
        mixed = mix_images(list(arrays), mix, alpha=alpha, seed=seed)
        info = [json.loads(json.dumps(x, default=float)) for _, x in mixed]
        return [self._encode(a) for a, _ in mixed], info

    # -- internals ---------------------------------------------------------------------

    def _resized(self, head: list) -> list[np.ndarray]:
        key = json.dumps([t.to_dict_private() for t in head], default=str)
        if key not in self._bases:
            compose = A.Compose(copy.deepcopy(head))
            self._bases[key] = [compose(image=im)["image"] for im in self.images]
            while len(self._bases) > 4:
                self._bases.popitem(last=False)
        self._bases.move_to_end(key)
        return self._bases[key]

    def _run(self, compose: A.Compose, base: np.ndarray, i: int, size: int) -> dict[str, Any]:
        try:
            out = compose(image=base)
        except Exception as err:
            raise ExplorerSpecError(
                f"the pipeline fails on image {i}: {type(err).__name__}: {err}"
            ) from err
        image = out["image"]
        if image.dtype != np.uint8 or image.shape != (size, size, 3):
            raise ExplorerSpecError(
                f"the pipeline must return RGB uint8 images of {size}×{size}, got "
                f"{image.dtype} {image.shape}: leave normalization to the model and do not "
                "resize after the policy"
            )
        return out

    def _encode(self, array: np.ndarray) -> bytes:
        digest = hashlib.blake2b(array.tobytes(), digest_size=16).digest()
        key = digest + str(array.shape).encode()
        cached = self._encoded.get(key)
        if cached is None:
            cached = encode_array(array, max_side=self.max_side, quality=self.quality)
            self._encoded[key] = cached
            while len(self._encoded) > 512:
                self._encoded.popitem(last=False)
        return cached


def encode_array(array: np.ndarray, *, max_side: int = 384, quality: int = 80) -> bytes:
    """An RGB array as thumbnail bytes: PNG up to 96 px (stays crisp when enlarged), else
    JPEG; shrunk to ``max_side`` first when larger."""
    height, width = array.shape[:2]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    buffer = io.BytesIO()
    if max(height, width) <= 96:
        Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    else:
        Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@dataclass
class SampledImages:
    """What :func:`sample_images` returns: RGB arrays with their labels and paths."""

    arrays: list[np.ndarray] = field(repr=False)
    labels: list[str]
    paths: list[str]
    skipped: list[str]


def sample_images(source: Any, n_images: int = 8, seed: int = 0) -> SampledImages:
    """A seeded sample of images to explore, decoded once.

    Args:
        source: A dataset table (``path``, optional ``label``, ``split``, ``error``: rows
            with an error are left out, training rows preferred), or a sequence of paths,
            PIL images or RGB arrays.
        n_images: How many to take (the first ones of a sequence; a seeded sample of a
            table, kept in table order).
        seed: Seed of the sample.

    Returns:
        The images; files that cannot be read are left out and listed in ``skipped``.

    Raises:
        ValueError: Nothing readable to show, or a table without a ``path`` column.
    """
    import pandas as pd

    from cvnb.data import ImageReadError

    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    labels: list[str] = []
    if isinstance(source, pd.DataFrame):
        if "path" not in source.columns:
            raise ValueError("the table needs a 'path' column (cvnb.data.load_images makes one)")
        rows = source
        if "error" in rows.columns:
            rows = rows[rows["error"].isna()]
        if "split" in rows.columns and (rows["split"] == "train").any():
            rows = rows[rows["split"] == "train"]
        if len(rows) > n_images:
            picked = np.random.default_rng(seed).choice(len(rows), n_images, replace=False)
            rows = rows.iloc[np.sort(picked)]
        items = list(rows["path"])
        if "label" in rows.columns:
            labels = [str(x) for x in rows["label"]]
    else:
        items = list(source)[:n_images]
    out = SampledImages([], [], [], [])
    for j, item in enumerate(items):
        try:
            out.arrays.append(as_rgb_array(item))
        except ImageReadError as err:
            out.skipped.append(f"{item} ({getattr(err, 'reason', err)})")
            continue
        out.labels.append(labels[j] if labels else "")
        out.paths.append(str(item) if isinstance(item, str) or hasattr(item, "__fspath__") else "")
    if not out.arrays:
        raise ValueError(f"no readable image to explore (skipped: {out.skipped[:3]})")
    return out

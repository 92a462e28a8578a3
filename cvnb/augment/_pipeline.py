"""A Pipeline: the resize policy, deterministic normalization and random augmentation, as
two albumentations ``Compose`` objects (train and valid) plus the batch-level mix setting.

Pure logic. The pipeline carries its own serialisation (``_document.py``, the versioned
JSON document, and ``_code.py``, the pipeline as source); ``_files.py`` reads files back.
"""

from __future__ import annotations

import copy
import html
import json
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
from PIL import Image

from ._code import pipeline_code
from ._document import PipelineFileError, pipeline_arguments, pipeline_document, write_document
from ._mix import check_mix, mix_images
from ._resize import Fill, canonical_policy, check_fill, check_size, resize_steps

__all__ = ["Pipeline", "make_pipeline", "seed_compose"]

ImageLike = str | os.PathLike | Image.Image | np.ndarray


def seed_compose(compose: A.BaseCompose, seed: int | Sequence[int]) -> A.BaseCompose:
    """Give ``compose`` and every transform in it one shared random state from ``seed``.

    albumentations 2.0's ``Compose(seed=…)`` gives each transform its *own* generator
    seeded with the same number, so transforms with the same probability fire in lockstep
    (a horizontal and a vertical flip at p=0.5 always come together). One shared
    generator, as an unseeded Compose has, keeps them independent.

    Args:
        compose: Changed in place.
        seed: An int, or a sequence of ints (e.g. ``[seed, draw]``, ``[seed, worker]``).

    Returns:
        ``compose``, for chaining.
    """
    seq = np.random.SeedSequence(seed)
    py_seed = int(seq.generate_state(2, np.uint64)[1])
    compose.set_random_state(np.random.default_rng(seq), random.Random(py_seed))
    return compose


class Pipeline:
    """One preprocessing + augmentation pipeline, shared by notebook, training and export.

    Build one with :func:`make_pipeline` or :func:`preset`, or load one with
    :func:`load_pipeline`.

    Attributes:
        train: ``A.Compose`` used on training images: resize policy (random crop position
            for ``"crop"``), then ``normalize``, then the random ``transforms``.
        valid: ``A.Compose`` used on validation images and by the exported model: the
            resize policy (centre crop for ``"crop"``) and ``normalize``; deterministic.
        size: Side of the square output.
        policy: Resize policy, one of :data:`RESIZE_POLICIES`.
        fill: Letterbox pad colour (grey level or RGB triple).
        transforms: The random training-only steps (after the resize).
        normalize: The deterministic steps run in training *and* validation.
        mix: Batch-level mixing during training: ``"mixup"``, ``"cutmix"`` or None.
        mix_alpha: α of the Beta(α, α) distribution of the mixing weight.
    """

    def __init__(
        self,
        transforms: Sequence[A.BasicTransform | A.BaseCompose] = (),
        size: int = 224,
        *,
        policy: str = "letterbox",
        fill: Fill = 0,
        normalize: Sequence[A.BasicTransform | A.BaseCompose] = (),
        mix: str | None = None,
        mix_alpha: float = 0.4,
    ) -> None:
        self.size = check_size(size)
        self.policy = canonical_policy(policy)
        self.fill = check_fill(fill)
        self.mix, self.mix_alpha = check_mix(mix, mix_alpha)
        for step in (*transforms, *normalize):
            if not isinstance(step, A.BasicTransform | A.BaseCompose):
                raise TypeError(
                    f"pipeline steps must be albumentations transforms, got {step!r} "
                    "(normalization to the backbone's mean/std is done by make_learner)"
                )
        for step in normalize:
            if getattr(step, "p", 1.0) < 1.0:
                raise ValueError(
                    f"normalize steps run in validation and export and must always apply: "
                    f"{type(step).__name__} has p={step.p}; use p=1"
                )
        # Own copies: a transform object shared with another pipeline would share its state.
        self.transforms: list = copy.deepcopy(list(transforms))
        self.normalize: list = copy.deepcopy(list(normalize))
        kw = {"fill": self.fill}
        self.train = A.Compose(
            [
                *resize_steps(self.size, self.policy, crop="random", **kw),
                *copy.deepcopy(self.normalize),
                *copy.deepcopy(self.transforms),
            ]
        )
        self.valid = A.Compose(
            [*resize_steps(self.size, self.policy, **kw), *copy.deepcopy(self.normalize)]
        )

    # -- derived pipelines -------------------------------------------------------------

    def replace(self, **changes: Any) -> Pipeline:
        """A copy with some settings changed (``size``, ``policy``, ``fill``, ``mix``,
        ``mix_alpha``, ``transforms``, ``normalize``); the resize steps are rebuilt.

        Example:
            >>> small = preset("medium", 256).replace(size=64)  # doctest: +SKIP
        """
        unknown = set(changes) - {*_SETTINGS, "transforms", "normalize"}
        if unknown:
            raise TypeError(f"Pipeline.replace got unknown setting(s) {sorted(unknown)}")
        current = {k: getattr(self, k) for k in (*_SETTINGS, "transforms", "normalize")}
        return make_pipeline(**(current | changes))

    # -- applying ----------------------------------------------------------------------

    def apply(
        self, image: ImageLike, *, split: str = "valid", seed: int | None = None
    ) -> np.ndarray:
        """Run one image through the train or valid pipeline.

        Args:
            image: A path, a PIL image (read with :func:`cvnb.data.read_image`: EXIF
                orientation, RGB) or an RGB ``uint8`` array ``(H, W, 3)``.
            split: ``"train"`` (random) or ``"valid"`` (deterministic).
            seed: Seed of the random draw (None: a fresh random draw).

        Returns:
            ``uint8`` array ``(size, size, 3)``.
        """
        compose = self._compose(split)
        if seed is not None:
            compose = seed_compose(copy.deepcopy(compose), seed)
        return compose(image=as_rgb_array(image))["image"]

    def preview(
        self, image: ImageLike, n: int = 8, seed: int = 0, *, split: str = "train"
    ) -> list[tuple[Image.Image, dict[str, dict[str, Any]]]]:
        """``n`` random draws of the training pipeline on one image, with what each did.

        Draw ``i`` is seeded by ``(seed, i)``: asking for more draws keeps the first ones.

        Args:
            image: Path, PIL image or RGB array (see :meth:`apply`).
            n: Number of draws.
            seed: Seed of the draws.
            split: ``"train"`` (default) or ``"valid"``.

        Returns:
            ``[(image, applied), …]``: a ``size`` × ``size`` PIL image and, per transform
            that fired in that draw (in order, keyed by class name; a repeated class gets
            ``"#2"``…), the parameters it drew (JSON-friendly; large arrays summarized).

        Example:
            >>> for im, applied in preset("medium", 128).preview("cat.jpg", n=4):  # doctest: +SKIP
            ...     print(list(applied))  # e.g. ['LongestMaxSize', 'PadIfNeeded', 'Affine']
        """
        array = as_rgb_array(image)
        compose = copy.deepcopy(self._compose(split))
        compose.save_applied_params = True
        out = []
        for i in range(n):
            result = seed_compose(compose, [seed, i])(image=array)
            out.append((Image.fromarray(result["image"]), applied_params(result)))
        return out

    def preview_mix(
        self, images: Sequence[ImageLike], seed: int = 0
    ) -> list[tuple[Image.Image, dict[str, Any]]]:
        """What the batch-level mix (:attr:`mix`) makes of a batch of training images.

        Each image goes through the training pipeline (seeded), then the batch is mixed as
        fastai's ``MixUp``/``CutMix`` callbacks do (see :func:`cvnb.augment._mix.mix_images`).

        Returns:
            ``[(image, info), …]``; ``info`` has ``mix``, ``lam`` (weight of the image's
            own label) and ``partner`` (index of the image mixed in), plus ``box``
            ``(x1, y1, x2, y2)`` for CutMix. With ``mix=None`` the images come back unmixed.
        """
        arrays = [self.apply(im, split="train", seed=[seed, i]) for i, im in enumerate(images)]
        if self.mix is None:
            return [(Image.fromarray(a), {"mix": None}) for a in arrays]
        mixed = mix_images(arrays, self.mix, alpha=self.mix_alpha, seed=seed)
        return [(Image.fromarray(a), info) for a, info in mixed]

    def _compose(self, split: str) -> A.Compose:
        if split not in ("train", "valid"):
            raise ValueError(f"split must be 'train' or 'valid', got {split!r}")
        return self.train if split == "train" else self.valid

    # -- files and code ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The versioned, JSON-ready document that :meth:`save` writes."""
        return pipeline_document(self)

    @classmethod
    def from_dict(cls, document: Any, *, source: str = "the pipeline document") -> Pipeline:
        """Rebuild a pipeline from :meth:`to_dict`'s document.

        Raises:
            PipelineFileError: The document is not a valid pipeline; the message says why.
        """
        arguments = pipeline_arguments(document, source=source)
        try:
            return cls(**arguments)
        except (TypeError, ValueError) as err:
            raise PipelineFileError(f"{source}: {err}") from err

    def save(self, path: str | os.PathLike) -> Path:
        """Write the pipeline as a JSON file (atomically); :func:`load_pipeline` reads it."""
        return write_document(self.to_dict(), path)

    def to_code(self) -> str:
        """Python source that rebuilds this pipeline with :func:`make_pipeline`."""
        return pipeline_code(self)

    # -- display -----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return json.dumps(self.to_dict(), sort_keys=True) == json.dumps(
            other.to_dict(), sort_keys=True
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        steps = ", ".join(_step_name(t) for t in self.transforms) or "none"
        norm = ", ".join(_step_name(t) for t in self.normalize)
        return (
            f"Pipeline(size={self.size}, policy={self.policy!r}, fill={self.fill!r}, "
            f"mix={self.mix!r}, normalize=[{norm}], transforms=[{steps}])"
        )

    def _repr_html_(self) -> str:
        rows = [
            (
                "resize",
                f"{self.policy} to {self.size}×{self.size}"
                + (f", fill {self.fill}" if self.policy == "letterbox" else ""),
            ),
            ("normalize (train + valid)", ", ".join(map(_step_name, self.normalize)) or "—"),
            ("augment (train only)", ", ".join(map(_step_name, self.transforms)) or "—"),
            ("mix (batches)", f"{self.mix} α={self.mix_alpha}" if self.mix else "—"),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        return f"<table class='cvnb-pipeline'>{body}</table>"


_SETTINGS = ("size", "policy", "fill", "mix", "mix_alpha")


def make_pipeline(
    transforms: Sequence[A.BasicTransform | A.BaseCompose],
    size: int = 224,
    *,
    policy: str = "letterbox",
    fill: Fill = 0,
    normalize: Sequence[A.BasicTransform | A.BaseCompose] = (),
    mix: str | None = None,
    mix_alpha: float = 0.4,
) -> Pipeline:
    """A :class:`Pipeline` from albumentations transforms, checked on a test image.

    Args:
        transforms: Random training-only augmentations, applied after the resize (so they
            work on ``size`` × ``size`` images: cheap, and sizes in them are fractions of
            the model input).
        size: Side of the square model input.
        policy: Resize policy, one of :data:`RESIZE_POLICIES` (``"pad"`` = letterbox).
        fill: Letterbox pad colour: a 0-255 grey level or an RGB triple.
        normalize: Deterministic steps (``p=1``) applied in training, validation and export
            after the resize, e.g. ``A.ToGray(p=1)``, ``A.CLAHE(clip_limit=2, p=1)``.
        mix: ``"mixup"``, ``"cutmix"`` or None: batch-level mixing while training.
        mix_alpha: α of the mixing weight's Beta(α, α) distribution.

    Returns:
        The pipeline.

    Raises:
        ValueError: A bad setting, or the transforms fail on (or do not return an RGB
            ``uint8`` image for) a test image; the message carries albumentations' own.

    Example:
        >>> import albumentations as A
        >>> p = make_pipeline([A.HorizontalFlip(p=0.5)], 64, policy="crop")
        >>> p.apply(np.zeros((40, 80, 3), np.uint8), split="train").shape
        (64, 64, 3)
    """
    pipeline = Pipeline(
        transforms,
        size,
        policy=policy,
        fill=fill,
        normalize=normalize,
        mix=mix,
        mix_alpha=mix_alpha,
    )
    _dry_run(pipeline)
    return pipeline


def _dry_run(pipeline: Pipeline) -> None:
    size = pipeline.size
    height = max(size * 3 // 4, 8)  # not square, so every policy has work to do
    y, x = np.mgrid[0:height, 0:size]
    image = np.stack([x * 255 // size, y * 255 // height, (x * y) % 256], axis=2)
    image = image.astype(np.uint8)
    for split in ("train", "valid"):
        compose = seed_compose(copy.deepcopy(pipeline._compose(split)), 0)
        try:
            out = compose(image=image)["image"]
        except Exception as err:
            raise ValueError(
                f"the {split} pipeline fails on a test image: {type(err).__name__}: {err}"
            ) from err
        if out.dtype != np.uint8 or out.shape != (size, size, 3):
            raise ValueError(
                f"the {split} pipeline must return RGB uint8 images of {size}×{size}, got "
                f"{out.dtype} {out.shape}; leave normalization to the model (make_learner "
                "applies the backbone's mean/std) and do not resize after the policy"
            )


def as_rgb_array(image: ImageLike) -> np.ndarray:
    """A path / PIL image / array as an RGB ``uint8`` array ``(H, W, 3)``."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"image arrays must be uint8, got {image.dtype}")
        if image.ndim == 2:
            return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image arrays must be (H, W, 3) RGB, got shape {image.shape}")
        return image
    from cvnb.data import read_image  # the one robust reader (EXIF, modes)

    return np.asarray(read_image(image))


def applied_params(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``result["applied_transforms"]`` as ``{name: {param: value}}``, JSON-friendly."""
    out: dict[str, dict[str, Any]] = {}
    for name, params in result.get("applied_transforms", []):
        key, k = name, 2
        while key in out:
            key, k = f"{name}#{k}", k + 1
        out[key] = {p: _plain(v) for p, v in params.items() if p not in _NOISE}
    return out


# Applied parameters that repeat settings or internals rather than describe the draw.
_NOISE = {"shape", "fill_mask", "bbox_matrix", "output_shape", "seed", "interpolation"}


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.size > 16:
            return f"array{tuple(value.shape)}"
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _step_name(step: Any) -> str:
    if isinstance(step, A.BaseCompose):
        inner = ", ".join(_step_name(t) for t in step.transforms)
        return f"{type(step).__name__}[{inner}]"
    return type(step).__name__

"""The bridge from a :class:`cvnb.augment.Pipeline` into fastai: item transforms and mix.

The pipeline's ``train`` Compose runs on training items (random), its ``valid`` Compose on
everything else (validation, ``test_dl``, ``predict``): the split arrives from fastai as
``split_idx`` exactly as for fastai's own ``RandTransform``s.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import torch
from fastai.callback.mixup import CutMix, MixUp
from fastai.vision.augment import RandTransform
from fastai.vision.core import PILImage

from cvnb.augment import PRESETS, Pipeline, load_pipeline, preset
from cvnb.augment._pipeline import seed_compose
from cvnb.augment._presets import DOMAIN_PRESETS

__all__ = ["AlbumentationsTransform", "mix_callback", "resolve_pipeline"]


class AlbumentationsTransform(RandTransform):
    """A :class:`cvnb.augment.Pipeline` as one fastai item transform.

    Training items (``split_idx == 0``) go through ``pipeline.train``, seeded: the same
    ``seed`` gives the same sequence of augmented images. Everything else goes through the
    deterministic ``pipeline.valid``. In DataLoader worker processes the training Compose is
    reseeded from ``(seed, worker seed)``: workers draw different augmentations, each epoch
    anew, and the same ``seed`` and ``num_workers`` repeat a run.

    Args:
        pipeline: The pipeline (copied: the caller's object is not touched).
        seed: Seed of the training augmentations.
    """

    split_idx = None  # run on every split; encodes picks the Compose from the split
    order = 1  # where fastai's Resize runs: before ToTensor and other item transforms

    def __init__(self, pipeline: Pipeline, seed: int = 0) -> None:
        super().__init__(p=1.0)
        self.pipeline = pipeline
        self.seed = seed
        self.train = seed_compose(copy.deepcopy(pipeline.train), seed)
        self.valid = copy.deepcopy(pipeline.valid)
        self._split: int | None = None
        self._worker_seed: int | None = None

    def before_call(self, b, split_idx: int | None) -> None:
        self.do = True
        self._split = split_idx

    def encodes(self, x: PILImage) -> PILImage:
        if self._split == 0:
            self._reseed_in_worker()
            compose = self.train
        else:
            compose = self.valid
        return PILImage.create(compose(image=np.asarray(x))["image"])

    def _reseed_in_worker(self) -> None:
        info = torch.utils.data.get_worker_info()
        if info is not None and info.seed != self._worker_seed:
            # A forked worker starts with a copy of the parent's generator: without this,
            # every worker (and every epoch) would repeat the same augmentations.
            self._worker_seed = info.seed
            seed_compose(self.train, [self.seed, info.seed % 2**63])


def resolve_pipeline(
    augment: Pipeline | str | os.PathLike | None,
    *,
    img_size: int | None,
    resize: str | None,
    fill=None,
) -> Pipeline:
    """The pipeline ``make_learner`` trains with.

    ``augment`` None: resize only (``resize``, default ``"squish"``). A preset name: that
    preset (policy ``resize``, default ``"letterbox"``, as :func:`cvnb.augment.preset`). A
    path: :func:`cvnb.augment.load_pipeline`. ``img_size``, ``resize`` and ``fill``, when
    given, replace the pipeline's own.
    """
    size = 224 if img_size is None else img_size
    if augment is None:
        return preset("none", size, policy=resize or "squish", fill=0 if fill is None else fill)
    if isinstance(augment, str) and augment in (*PRESETS, *DOMAIN_PRESETS):
        return preset(augment, size, policy=resize or "letterbox", fill=0 if fill is None else fill)
    if isinstance(augment, str | os.PathLike):
        pipeline = load_pipeline(augment)
    elif isinstance(augment, Pipeline):
        pipeline = augment
    else:
        raise TypeError(
            "augment must be a cvnb.augment.Pipeline, a preset name "
            f"({', '.join((*PRESETS, *DOMAIN_PRESETS))}) or a pipeline file, "
            f"got {type(augment).__name__}"
        )
    changes = {
        k: v
        for k, v in (("size", img_size), ("policy", resize), ("fill", fill))
        if v is not None and v != getattr(pipeline, k)
    }
    return pipeline.replace(**changes) if changes else pipeline


def mix_callback(mix: str | None, alpha: float):
    """fastai's ``MixUp``/``CutMix`` callback for ``mix`` (None: no callback)."""
    if mix is None:
        return None
    return {"mixup": MixUp, "cutmix": CutMix}[mix](alpha=alpha)

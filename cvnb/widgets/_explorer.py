"""AugmentationExplorer: build an augmentation pipeline with live previews on your images."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from cvnb.augment import (
    DOMAIN_PRESETS,
    MIX_MODES,
    PRESETS,
    RESIZE_POLICIES,
    Pipeline,
    load_pipeline,
    preset,
)
from cvnb.augment._explore import (
    ExplorerPlan,
    ExplorerSpecError,
    pipeline_spec,
    plan_pipeline,
    transform_catalog,
)
from cvnb.augment._preview import PreviewSession, sample_images
from cvnb.widgets._assets import asset_path, widget_css
from cvnb.widgets._base import dispatch_action, report_errors

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AugmentationExplorer", "explore_augmentations"]

# Traits whose change re-runs the draws; the mix traits only re-mix the cached first draws.
_DRAW_TRAITS = ("transforms", "normalize", "size", "policy", "fill", "draws", "seed")
_MIX_TRAITS = ("mix", "mix_alpha")
_SETTINGS = ("transforms", "normalize", "size", "policy", "fill", "mix", "mix_alpha")


class AugmentationExplorer(anywidget.AnyWidget):
    """Pick albumentations transforms, tune their parameters, and see them on your images.

    Build one with :func:`explore_augmentations`. The preview shows each image beside
    ``draws`` random draws of the training pipeline (resize policy, normalize steps, then
    the transforms) with the parameters each draw applied, and the batch mix (MixUp/CutMix)
    of the first draws. Draw ``k`` of image ``i`` is exactly
    ``w.pipeline.apply(image, split="train", seed=[w.seed, i, k])``. A change re-runs only
    the draws (decoded and resized images are cached) or, for the mix settings, only the
    mix. Every trait is synced, so a cell drives the widget as the browser does.

    Input traits (Python ⇄ browser):
        transforms (list[dict]): The random training steps, in order:
            ``{"name": "Affine", "p": 0.5, "params": {"rotate": [-15, 15]}}`` (only the
            arguments that differ from albumentations' defaults), groups as
            ``{"name": "OneOf", "p": 0.2, "transforms": [...]}``.
        normalize (list[dict]): Deterministic steps (``p`` = 1) run in training, validation
            and export, same format (e.g. the ``grayscale_scan`` preset's CLAHE).
        size (int): Side of the square model input (and of the previews).
        policy (str): Resize policy, one of :data:`cvnb.augment.RESIZE_POLICIES`.
        fill (int | list[int]): Letterbox pad colour (grey level or RGB).
        draws (int): Random draws per image.
        seed (int): Seed of the draws (draw ``k`` of image ``i`` uses ``[seed, i, k]``).
        mix (str): ``"none"``, ``"mixup"`` or ``"cutmix"``.
        mix_alpha (float): α of the mix's Beta distribution.
        save_path (str): Where the Save button (and :meth:`save` without a path) writes.
        thumb_size (int): Display size of a thumbnail in CSS pixels.
        action (dict): A request the browser sets and Python clears: ``{"kind": "save"}``
            or ``{"kind": "preset", "name": "medium"}``. Failures land in ``error``.

    Output traits (Python → browser):
        catalog (list[dict]): Transforms on offer with their parameter specs (kind,
            default, bounds, choices), read from albumentations' validation schemas.
        choices (dict): ``policies``, ``mix`` and ``presets`` for the menus.
        labels (list[str]): Label of each image (may be empty strings).
        originals (list[bytes]): Thumbnails of the images as they are.
        previews (list[bytes]): Draw thumbnails, image-major (draw ``k`` of image ``i`` at
            ``i * draws + k``).
        applied (list[dict]): Per preview: ``image``, ``draw`` and ``transforms``
            (``{step name: {parameter: value drawn}}`` for the steps that fired).
        mix_previews (list[bytes]), mix_info (list[dict]): The mixed batch and, per image,
            ``mix``, ``lam`` (weight of its own label), ``partner`` (+ ``box`` for CutMix).
        code (str): Python that rebuilds the pipeline (the "Copy code" button copies it).
        saved (str): Path of the last save.
        render_ms (float): Time of the last update in Python (draws, encoding, mix).
        error (str): albumentations' (or cvnb's) message when the settings cannot be used;
            the previews then keep showing the last good pipeline. Empty when all is well.
        error_step (int): Index in ``transforms`` of the step at fault, or -1.

    Args:
        images: Paths, PIL images or RGB ``uint8`` arrays to preview on.
        labels: One label per image (optional).
        pipeline: A :class:`~cvnb.augment.Pipeline` to start from (its settings fill the
            traits not given in ``kwargs``).
        **kwargs: Initial trait values.
    """

    _esm = asset_path("explorer.js")
    _css = widget_css("explorer.css")

    transforms = traitlets.List(traitlets.Dict()).tag(sync=True)
    normalize = traitlets.List(traitlets.Dict()).tag(sync=True)
    size = traitlets.Int(256).tag(sync=True)
    policy = traitlets.Unicode("letterbox").tag(sync=True)
    fill = traitlets.Any(0).tag(sync=True)
    draws = traitlets.Int(3).tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)
    mix = traitlets.Unicode("none").tag(sync=True)
    mix_alpha = traitlets.Float(0.4).tag(sync=True)
    save_path = traitlets.Unicode("").tag(sync=True)
    thumb_size = traitlets.Int(128).tag(sync=True)
    action = traitlets.Dict().tag(sync=True)

    catalog = traitlets.List(traitlets.Dict()).tag(sync=True)
    choices = traitlets.Dict().tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    originals = traitlets.List(traitlets.Bytes()).tag(sync=True)
    previews = traitlets.List(traitlets.Bytes()).tag(sync=True)
    applied = traitlets.List(traitlets.Dict()).tag(sync=True)
    mix_previews = traitlets.List(traitlets.Bytes()).tag(sync=True)
    mix_info = traitlets.List(traitlets.Dict()).tag(sync=True)
    code = traitlets.Unicode("").tag(sync=True)
    saved = traitlets.Unicode("").tag(sync=True)
    render_ms = traitlets.Float(0.0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    error_step = traitlets.Int(-1).tag(sync=True)

    def __init__(
        self,
        images: Sequence[Any],
        *,
        labels: Sequence[str] = (),
        pipeline: Pipeline | None = None,
        **kwargs: Any,
    ) -> None:
        self._paused = True
        self._plan: ExplorerPlan | None = None
        self._first: list = []
        self._session = PreviewSession(images)
        labels = [str(x) for x in labels] or [""] * len(self._session.images)
        if len(labels) != len(self._session.images):
            raise ValueError(f"got {len(labels)} labels for {len(self._session.images)} images")
        start = pipeline_spec(pipeline) if pipeline is not None else {}
        super().__init__(
            catalog=transform_catalog(),
            choices={
                "policies": list(RESIZE_POLICIES),
                "mix": ["none", *MIX_MODES],
                "presets": [*PRESETS, *DOMAIN_PRESETS],
            },
            labels=labels,
            originals=self._session.originals(max_size=256),
            **(start | kwargs),
        )
        self._paused = False
        self._update(redraw=True)

    # ------------------------------------------------------------------ observers
    @traitlets.observe(*_DRAW_TRAITS, *_MIX_TRAITS)
    def _on_settings(self, change: Any) -> None:
        if not self._paused:
            self._update(redraw=change["name"] in _DRAW_TRAITS)

    @traitlets.observe("action")
    @report_errors
    def _on_action(self, change: Any) -> None:
        dispatch_action(self, change["new"], {"save": (), "preset": ("name",)})

    # ---------------------------------------------------------------------- API
    @property
    def pipeline(self) -> Pipeline:
        """The pipeline shown (the last one without an error), as a new object."""
        if self._plan is None:
            raise ValueError(f"no valid pipeline yet: {self.error}")
        return self._plan.pipeline()

    def preset(self, name: str) -> None:
        """Show the preset ``name`` at the current size, policy and fill (the preset menu)."""
        self.set_pipeline(str(name))

    def set_pipeline(self, pipeline: Pipeline | str | os.PathLike[str]) -> None:
        """Show another pipeline: a :class:`~cvnb.augment.Pipeline`, a preset name (built
        at the current size, policy and fill) or a pipeline file."""
        if isinstance(pipeline, str) and pipeline in (*PRESETS, *DOMAIN_PRESETS):
            pipeline = preset(pipeline, self.size, policy=self.policy, fill=self._fill())
        elif not isinstance(pipeline, Pipeline):
            pipeline = load_pipeline(pipeline)
        with self._batch():
            for name, value in pipeline_spec(pipeline).items():
                setattr(self, name, value)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Save the pipeline shown to ``path`` (default: ``save_path``) with
        :meth:`~cvnb.augment.Pipeline.save`; :func:`~cvnb.augment.load_pipeline` reads it,
        and ``make_learner(df, augment=path)`` trains with it."""
        target = path if path is not None else self.save_path
        if not str(target or "").strip():
            raise ValueError("no file to save to: set save_path (or pass a path to save())")
        if self.error:
            raise ValueError(f"fix the error before saving: {self.error}")
        written = self.pipeline.save(target)
        self.saved = str(written)
        return written

    def __repr__(self) -> str:
        steps = ", ".join(str(t.get("name")) for t in self.transforms) or "no transforms"
        return (
            f"<AugmentationExplorer: {len(self.originals)} images × {self.draws} draws, "
            f"{self.policy} {self.size}px, {steps}>"
        )

    # ------------------------------------------------------------------ internals
    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """Set several traits, then update once."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
        self._update(redraw=True)

    def _fill(self) -> Any:
        return tuple(self.fill) if isinstance(self.fill, list) else self.fill

    def _update(self, *, redraw: bool) -> None:
        start = time.perf_counter()
        try:
            plan = plan_pipeline(
                **{k: getattr(self, k) for k in _SETTINGS} | {"fill": self._fill()}
            )
            draws = self._session.draw(plan, self.draws, self.seed) if redraw else None
            first = draws.first if draws is not None else self._first
            mixed = self._session.mix(first, plan.mix, plan.mix_alpha, self.seed)
        except ExplorerSpecError as err:
            self.error, self.error_step = str(err), err.index
            return
        except Exception as err:  # an unexpected failure: shown, never lost in the log
            self.error, self.error_step = f"{type(err).__name__}: {err}", -1
            return
        self._plan = plan
        with self.hold_sync():
            if draws is not None:
                self._first = draws.first
                self.previews, self.applied = draws.images, draws.applied
            self.mix_previews, self.mix_info = mixed
            self.error, self.error_step = "", -1
            self.render_ms = round((time.perf_counter() - start) * 1000, 1)
        self.code = plan.code()


def explore_augmentations(
    source: pd.DataFrame | Sequence[Any],
    pipeline: Pipeline | str | os.PathLike[str] | None = None,
    *,
    n_images: int = 8,
    draws: int = 3,
    size: int | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> AugmentationExplorer:
    """Open the augmentation explorer on a sample of your images.

    Args:
        source: A dataset table (training rows are sampled; rows with an ``error`` are
            skipped) or a list of paths, PIL images or RGB arrays.
        pipeline: Where to start: None (no transforms), a preset name (``"light"``,
            ``"medium"``, … see :data:`cvnb.augment.PRESETS`), a pipeline file, or a
            :class:`~cvnb.augment.Pipeline`.
        n_images: Images to preview (a seeded sample of a table).
        draws: Random draws per image.
        size: Model input side; default the pipeline's own, or 256.
        seed: Seed of the sample and of the draws.
        **kwargs: Initial trait values (``policy``, ``fill``, ``mix``, ``save_path``,
            ``thumb_size``…).

    Returns:
        The :class:`AugmentationExplorer`; display it by leaving it last in a cell.

    Example:
        >>> w = explore_augmentations(df, "light", n_images=4, size=128)  # doctest: +SKIP
        >>> w.transforms = [{"name": "Affine", "p": 1.0, "params": {"rotate": [-20, 20]}}]  # doctest: +SKIP
        >>> w.applied[0]["transforms"]["Affine"]["rotate"]  # doctest: +SKIP
        -7.42
        >>> w.save("runs/pipeline.json")  # doctest: +SKIP
    """
    sample = sample_images(source, n_images, seed)
    if isinstance(pipeline, str) and pipeline in (*PRESETS, *DOMAIN_PRESETS):
        policy = kwargs.get("policy", "letterbox")
        fill = kwargs.get("fill", 0)
        fill = tuple(fill) if isinstance(fill, list) else fill
        pipeline = preset(pipeline, size or 256, policy=policy, fill=fill)
    elif pipeline is not None and not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(pipeline)
    size = size or (pipeline.size if pipeline is not None else 256)
    widget = AugmentationExplorer(
        sample.arrays,
        labels=sample.labels,
        pipeline=pipeline,
        draws=draws,
        seed=seed,
        size=size,
        **kwargs,
    )
    if sample.skipped and not widget.error:
        widget.error = f"Skipped {len(sample.skipped)} unreadable image(s): {sample.skipped[:3]}"
    return widget

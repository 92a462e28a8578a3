"""ExplainViewer: Grad-CAM, SHAP and LIME maps of one image side by side, picked from mistakes."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from cvnb.data import encode_thumbnail
from cvnb.widgets._assets import asset_path, widget_css
from cvnb.widgets._base import dispatch_action, report_errors
from cvnb.widgets._explain_jobs import ExplainJobs
from cvnb.widgets._explain_view import candidate, candidate_rows, plain

if TYPE_CHECKING:
    import os

    import pandas as pd
    from fastai.learner import Learner
    from PIL import Image

    from cvnb.explain import Explanation, Explanations, SanityReport

__all__ = ["ExplainViewer"]

METHODS = ("gradcam", "shap", "lime")
SOURCES = ("mistakes", "top_losses")
_ACTIONS = {"pick": ("index",), "explain": (), "sanity_check": ()}


class ExplainViewer(ExplainJobs, anywidget.AnyWidget):
    """Saliency maps of one image by several methods side by side, scored by faithfulness.

    Pick an image from a grid of the validation mistakes (or the top losses), or pass one in;
    the viewer explains the target class (default: the predicted one) with each method of
    ``methods`` through :func:`cvnb.explain.explain_one`. The Grad-CAM map (fast) is drawn
    at once; its scores and the slow black-box methods (SHAP, LIME) fill in from a
    background thread while the kernel stays free, and their panels say so meanwhile. Each panel shows
    the map over the image as the model saw it (one opacity slider for all), its seconds,
    model calls and the deletion / insertion AUC beside a random map's (deletion: lower is
    better; insertion: higher). "Model-sensitive?" runs :func:`cvnb.explain.sanity_check`
    on demand. Calls that use the model are serialised: a new pick waits for the method
    running in the background to finish (its stale result is dropped).

    Input traits (Python ⇄ browser):
        source (str): What the grid shows: ``"mistakes"`` (wrong predictions, highest loss
            first) or ``"top_losses"`` (every image, highest loss first).
        max_candidates (int): Images in the grid (default 24).
        selected (int): Index into ``candidates`` of the image explained (-1: none, or an
            image passed in with :meth:`show`). Changing it explains that image.
        target (str): Class explained; ``""`` (default) means the predicted class.
            Not a class: ``TraitError`` naming them. Changing it, or any of ``methods``,
            ``budgets``, ``seed`` and ``runtime``, explains the current image again.
        opacity (float): Opacity of the maps over the image, 0 to 1 (browser only).
        methods (list[str]): Methods, one panel each (default gradcam, shap, lime).
        budgets (dict[str, int]): Per-method budget (SHAP ``max_evals``, LIME
            ``num_samples``); a method left out gets cvnb.explain's default.
        seed (int), runtime (str): Passed to the explain functions (``"auto"``, ``"torch"``
            or ``"onnxruntime"``).
        sanity_methods (list[str]): Methods the sanity check tests (default gradcam).
        action (dict): A request the browser sets and Python clears: ``{"kind": "pick",
            "index": i}``, ``{"kind": "explain"}`` (again, with the current settings) or
            ``{"kind": "sanity_check"}``. Failures land in ``error``.

    Output traits (Python → browser):
        thumbnails (list[bytes]), candidates (list[dict]): The grid: one encoded thumbnail
            and one dict (``path``, ``label``, ``prediction``, ``prob``, ``loss``) per image.
        classes (list[str]): The learner's classes (the target dropdown).
        image (bytes), original (bytes): The image as the model saw it (letterbox
            included; the maps are drawn on it) and the original, encoded.
        subject (dict): ``path``, ``label``, ``prediction``, ``target`` and ``probs`` (the
            five most probable classes, as ``[class, prob]`` pairs).
        maps (list[bytes]): One RGBA PNG heatmap per method (``b""`` until computed).
        panels (list[dict]): One per method: ``method``, ``status`` (``"pending"``,
            ``"running"``, ``"scoring"`` (map shown, scores to come), ``"done"``,
            ``"failed"``), ``seconds``, ``n_model_calls``,
            ``deletion_auc``, ``insertion_auc``, ``random_deletion``, ``random_insertion``,
            ``runtime`` and ``message`` (the failure).
        status (str): ``"idle"``, ``"running"``, ``"done"`` or ``"failed"`` (some method
            failed); progress (float): fraction of the methods finished, 0 to 1.
        sanity (dict): After a check, ``{"model_sensitive": {method: bool}, "table":
            [rows]}``; ``{}`` before one (and after a new image or target).
        sanity_status (str): ``"not run"``, ``"running"``, ``"done"`` or ``"failed"``.
        error (str): Message shown in the widget's error area; empty when all is well.
            Exceptions in observers and in the background thread land here.

    Args:
        learn: A trained fastai ``Learner`` from :func:`cvnb.train.make_learner`.
        table: Images to pick from: a table with ``path`` (and ``label``, ``prediction``,
            ``loss``), such as ``evaluation_report(learn).top_losses``. Default: that table
            for ``split``, computed once.
        image: An image to explain at once (path, PIL image or table row).
        split: The split whose top losses fill the grid when ``table`` is None.
        background: Run the slow methods in a background thread (default True); False
            computes every method before returning (scripts, tests).
        **kwargs: Initial trait values (``methods``, ``budgets``, ``source``…).

    Example:
        >>> w = ExplainViewer(learn, budgets={"shap": 200, "lime": 200})  # doctest: +SKIP
        >>> w.pick(0); w.wait(); w.panels[0]["deletion_auc"]  # doctest: +SKIP
    """

    _esm = asset_path("explain.js")
    _css = widget_css("explain.css")

    source = traitlets.Unicode("mistakes").tag(sync=True)
    max_candidates = traitlets.Int(24).tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
    target = traitlets.Unicode("").tag(sync=True)
    opacity = traitlets.Float(0.5).tag(sync=True)
    methods = traitlets.List(traitlets.Unicode(), default_value=list(METHODS)).tag(sync=True)
    budgets = traitlets.Dict().tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)
    runtime = traitlets.Unicode("auto").tag(sync=True)
    sanity_methods = traitlets.List(traitlets.Unicode(), default_value=["gradcam"]).tag(sync=True)
    action = traitlets.Dict().tag(sync=True)

    thumbnails = traitlets.List(traitlets.Bytes()).tag(sync=True)
    candidates = traitlets.List(traitlets.Dict()).tag(sync=True)
    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    image = traitlets.Bytes(b"").tag(sync=True)
    original = traitlets.Bytes(b"").tag(sync=True)
    subject = traitlets.Dict().tag(sync=True)
    maps = traitlets.List(traitlets.Bytes()).tag(sync=True)
    panels = traitlets.List(traitlets.Dict()).tag(sync=True)
    status = traitlets.Unicode("idle").tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    sanity = traitlets.Dict().tag(sync=True)
    sanity_status = traitlets.Unicode("not run").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        learn: Learner,
        table: pd.DataFrame | None = None,
        *,
        image: Any = None,
        split: str = "valid",
        background: bool = True,
        **kwargs: Any,
    ) -> None:
        self._learn = learn
        self._split = split
        self._background = background
        self._table = table
        self._rows: list[Any] = []  # the candidates' table rows
        self._subject: Any = None  # what is explained now (row, path or PIL image)
        self._base: Explanations | None = None
        self._explanations: dict[str, Explanation] = {}
        self._generation = 0
        self._model_lock = threading.Lock()  # one model call at a time (hooks, grads)
        self._state_lock = threading.Lock()  # a result is written only if still current
        self._worker: threading.Thread | None = None
        if "budgets" in kwargs and kwargs["budgets"] is None:  # None: the defaults, as explain
            kwargs["budgets"] = {}
        super().__init__(**kwargs)
        self.classes = [str(c) for c in learn.dls.vocab]
        if image is not None:
            self.show(image)
        else:
            self._fill_candidates()

    # ----------------------------------------------------------------- validation
    @traitlets.validate("target")
    def _check_target(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if value and self.classes and value not in self.classes:
            raise traitlets.TraitError(
                f"target {value!r} is not a class; the classes are {self.classes} "
                "('' explains the predicted class)."
            )
        return value

    @traitlets.validate("opacity")
    def _check_opacity(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:
            raise traitlets.TraitError(f"opacity must be between 0 and 1, got {value}.")
        return value

    @traitlets.validate("source")
    def _check_source(self, proposal: Any) -> str:
        if proposal["value"] not in SOURCES:
            raise traitlets.TraitError(
                f"source must be one of {SOURCES}, got {proposal['value']!r}."
            )
        return proposal["value"]

    @traitlets.validate("methods", "sanity_methods")
    def _check_methods(self, proposal: Any) -> list[str]:
        value = list(proposal["value"])
        bad = [m for m in value if m not in METHODS]
        if bad or not value or len(set(value)) != len(value):
            raise traitlets.TraitError(
                f"{proposal['trait'].name} must list distinct methods of {METHODS}, got {value}."
            )
        return value

    @traitlets.validate("selected")
    def _check_selected(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if not -1 <= value < len(self.candidates):
            raise traitlets.TraitError(
                f"selected must be -1 or an index below {len(self.candidates)} "
                f"(the candidates shown), got {value}."
            )
        return value

    # ------------------------------------------------------------------ observers
    @traitlets.observe("action")
    @report_errors
    def _on_action(self, change: Any) -> None:
        dispatch_action(self, change["new"], _ACTIONS)

    @traitlets.observe("selected")
    @report_errors
    def _on_selected(self, change: Any) -> None:
        if change["new"] >= 0:
            self._subject = self._rows[change["new"]]
            self.explain()

    @traitlets.observe("target", "methods", "budgets", "seed", "runtime")
    @report_errors
    def _on_settings(self, change: Any) -> None:
        if self._subject is not None:
            self.explain()

    @traitlets.observe("source", "max_candidates")
    @report_errors
    def _on_source(self, change: Any) -> None:
        self._fill_candidates()

    # ----------------------------------------------------------------------- API
    @property
    def explanations(self) -> dict[str, Explanation]:
        """The finished :class:`cvnb.explain.Explanation` of each method, by method."""
        return dict(self._explanations)

    def pick(self, index: int) -> None:
        """Explain the grid's image ``index`` (what a click does)."""
        if index == self.selected and self._subject is not None:
            self.explain()
        else:
            self.selected = int(index)

    def show(self, image: str | os.PathLike[str] | Image.Image | pd.Series) -> None:
        """Explain an image that is not in the grid: a path, a PIL image or a table row."""
        self._subject = image
        self.selected = -1
        self.explain()

    def explain(self) -> None:
        """Explain the current image for ``target`` with every method, afresh.

        The image is read and predicted, and the Grad-CAM map drawn, before this returns;
        Grad-CAM's scores and the other methods come from the background thread (see
        :meth:`wait`), or before it returns with ``background=False``.

        Raises:
            ValueError: No image picked yet.
        """
        if self._subject is None:
            raise ValueError("no image to explain: pick one from the grid or call show(image).")
        methods = list(self.methods)
        with self._state_lock:
            self._generation += 1
            generation = self._generation
            self._base, self._explanations = None, {}
            with self.hold_sync():
                self.maps = [b""] * len(methods)
                self.panels = [{"method": m, "status": "pending"} for m in methods]
                self.status, self.progress, self.error = "running", 0.0, ""
                self.sanity, self.sanity_status = {}, "not run"
        if not self._describe(generation):
            return
        fast = "gradcam" in methods
        if fast:  # the map at once, its scores from the worker with the others
            self._compute(generation, "gradcam", score=False)
        queue = (["gradcam"] if fast else []) + [m for m in methods if m != "gradcam"]
        if self._background:
            self._worker = threading.Thread(
                target=self._compute_all, args=(generation, queue), daemon=True
            )
            self._worker.start()
        else:
            self._compute_all(generation, queue)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background methods; True when they finished within ``timeout`` s."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    def sanity_check(self) -> SanityReport:
        """Run the model-randomisation test on the current image (the button's action).

        Returns:
            The :class:`cvnb.explain.SanityReport`; ``sanity`` shows its verdict per method.

        Raises:
            ValueError: No image picked yet.
        """
        from cvnb.explain import sanity_check

        if self._subject is None:
            raise ValueError("no image to check: pick one from the grid or call show(image).")
        self.sanity_status = "running"
        try:
            with self._model_lock:
                report = sanity_check(
                    self._learn,
                    self._image_arg(),
                    methods=tuple(self.sanity_methods),
                    target=self._target_arg(),
                    seed=self.seed,
                    budgets=dict(self.budgets) or None,
                )
        except Exception:
            self.sanity_status = "failed"
            raise
        table = report.table.astype(object).where(report.table.notna(), None)
        with self.hold_sync():
            self.sanity = {
                "model_sensitive": {k: bool(v) for k, v in report.model_sensitive.items()},
                "table": [plain(r) for r in table.to_dict("records")],
            }
            self.sanity_status = "done"
        return report

    def __repr__(self) -> str:
        done = sum(p.get("status") == "done" for p in self.panels)
        return f"<ExplainViewer: {len(self.candidates)} candidates, {done}/{len(self.panels)} maps>"

    # ------------------------------------------------------------------ internals
    def _fill_candidates(self) -> None:
        if self._table is None:
            from cvnb.evaluate import evaluation_report

            self._table = evaluation_report(self._learn, self._split, bootstrap=0).top_losses
        rows = candidate_rows(self._table, self.source, self.max_candidates)
        thumbs, kept = [], []
        for row in rows:
            try:
                thumbs.append(encode_thumbnail(row["path"], max_size=128, fmt="PNG"))
                kept.append(row)
            except Exception as exc:  # an unreadable file is named, the grid still shows
                self.error = f"skipped {row['path']}: {exc}"
        with self.hold_trait_notifications():
            self._rows = kept
            self.selected = -1
            self.candidates = [candidate(row) for row in kept]
            self.thumbnails = thumbs

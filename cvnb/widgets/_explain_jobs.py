"""The explain viewer's work: one model call at a time, in the background, stale results dropped.

:class:`ExplainJobs` is mixed into :class:`cvnb.widgets.ExplainViewer`; it computes each
method's map through :mod:`cvnb.explain` and writes the viewer's output traits (``panels``,
``maps``, ``progress``, ``status``, ``subject``, ``image``, ``original``, ``error``).
Every pick or setting change starts a new *generation*: a result computed for an older one
is dropped, so a slow SHAP map never lands on the image picked after it. The model lock
serialises model calls (Grad-CAM's hooks would catch another thread's forward passes); the
state lock makes "still current? then write" one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cvnb.widgets._explain_view import encode, heatmap_png, is_row, panel_of, path_or_blank

if TYPE_CHECKING:
    from cvnb.explain import Explanations

__all__ = ["ExplainJobs"]


class ExplainJobs:
    """The background half of the explain viewer (a mixin; the viewer holds the state)."""

    def _image_arg(self) -> Any:
        subject = self._subject
        return subject["path"] if is_row(subject) else subject

    def _target_arg(self) -> str | None:
        return self.target or None

    def _compute_all(self, generation: int, methods: Sequence[str]) -> None:
        try:
            for method in methods:
                if generation != self._generation:
                    return  # a newer pick or setting took over
                self._compute(generation, method)
        except Exception as exc:  # never lost in a thread: shown in the widget
            self.error = f"{type(exc).__name__}: {exc}"

    def _describe(self, generation: int) -> bool:
        """Read the image and predict it (the subject's panel); False when that failed."""
        from cvnb.explain import explain

        try:
            with self._model_lock:
                base = explain(
                    self._learn,
                    self._image_arg(),
                    target=self._target_arg(),
                    methods=(),
                    seed=self.seed,
                    progress=False,
                )
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            failed = {"status": "failed", "message": message}
            with self._state_lock:
                if generation == self._generation:
                    with self.hold_sync():
                        self.panels = [{"method": m, **failed} for m in self.methods]
                        self.status, self.progress, self.error = "failed", 1.0, message
            return False
        with self._state_lock:
            if generation == self._generation:
                self._base = base
                self._show_subject(base)
        return True

    def _compute(self, generation: int, method: str, *, score: bool = True) -> None:
        """One method's map; any failure goes to its panel and the error trait.

        ``score=False`` shows the map before its deletion / insertion scores (status
        ``"scoring"``); the scored map replaces it.
        """
        from cvnb.explain import explain_one

        if score and self._explanations.get(method) is None:
            self._set_panel(generation, method, {"method": method, "status": "running"})
        try:
            with self._model_lock:
                if generation != self._generation or self._base is None:
                    return
                result = explain_one(
                    self._learn,
                    self._image_arg(),
                    method,
                    target=self._base.target,
                    seed=self.seed,
                    budget=self.budgets.get(method),
                    runtime=self.runtime,
                    score=score,
                )
            heatmap = heatmap_png(result.heatmap)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            self._set_panel(
                generation, method, {"method": method, "status": "failed", "message": message}
            )
            with self._state_lock:
                if generation == self._generation:
                    self.error = f"{method}: {message}"
            return
        shown = panel_of(result) if score else {**panel_of(result), "status": "scoring"}
        with self._state_lock:
            if generation != self._generation:
                return
            with self.hold_sync():
                self._explanations[method] = result
                self._set_panel(generation, method, shown, heatmap, locked=True)

    def _set_panel(
        self,
        generation: int,
        method: str,
        panel: dict[str, Any],
        heatmap: bytes | None = None,
        *,
        locked: bool = False,
    ) -> None:
        if not locked:
            with self._state_lock:
                return self._set_panel(generation, method, panel, heatmap, locked=True)
        if generation != self._generation or method not in self.methods:
            return None
        i = list(self.methods).index(method)
        panels = [dict(p) for p in self.panels]
        panels[i] = panel
        finished = sum(p.get("status") in ("done", "failed") for p in panels)
        with self.hold_sync():
            if heatmap is not None:
                maps = list(self.maps)
                maps[i] = heatmap
                self.maps = maps
            self.panels = panels
            self.progress = finished / len(panels)
            if finished == len(panels):
                failed = any(p.get("status") == "failed" for p in panels)
                self.status = "failed" if failed else "done"
        return None

    def _show_subject(self, base: Explanations) -> None:
        subject = self._subject
        probs = sorted(base.probs.items(), key=lambda kv: -kv[1])[:5]
        predicted = probs[0][0] if probs else ""
        self.image = encode(base.image)
        self.original = encode(base.original)
        self.subject = {
            "path": str(subject["path"]) if is_row(subject) else path_or_blank(subject),
            "label": str(subject["label"]) if is_row(subject) and "label" in subject else "",
            "prediction": str(predicted),
            "target": str(base.target),
            "probs": [[str(k), float(v)] for k, v in probs],
        }

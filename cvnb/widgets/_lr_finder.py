"""LRFinderWidget: run the learning-rate range test, pick a rate on the curve, apply it."""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets
from fastai.callback.core import Callback

from cvnb.train import LRFinderResult, find_lr
from cvnb.train._freeze import apply_freeze
from cvnb.train._lr_curve import SUGGESTION_METHODS
from cvnb.widgets._assets import asset_path, widget_css
from cvnb.widgets._base import dispatch_action, report_errors

if TYPE_CHECKING:
    import pandas as pd
    from fastai.learner import Learner
    from matplotlib.figure import Figure

__all__ = ["LRFinderWidget"]

_ACTIONS = ("run", "apply")
_DPI = 100


class LRFinderWidget(anywidget.AnyWidget):
    """The learning-rate range test on a Learner, with the rate picked on its curve.

    "Run range test" (or :meth:`run`) calls :func:`cvnb.train.find_lr`, which trains a
    few batches at rates growing from ``start_lr`` to ``end_lr`` and then restores the
    learner exactly (weights, optimizer, recorder, random state). The curve is drawn with
    fastai's four suggestions marked; the recommended one (``valley``) becomes the chosen
    rate. Pick another with the log-scale slider, a suggestion button, a click on the plot,
    or ``w.chosen_lr = 3e-3``; the chosen-rate marker is drawn by the browser over the
    plot (no re-render). A curve too noisy to trust is flagged with the reason. "Apply"
    (or :meth:`apply`) makes the chosen rate the learner's.

    What "apply" sets: the head group's rate in ``learn.opt`` becomes ``chosen_lr`` and
    every other group keeps its multiplier (a discriminative spread set with
    :class:`LayerFreezeWidget` is kept); ``learn.lr`` holds the per-group rates, so
    fastai's ``learn.fit_one_cycle(n)``, ``fit_flat_cos(n)`` and ``fit(n)`` without a rate
    use them; a :class:`LayerFreezeWidget` built afterwards starts from that head rate, and
    one built with ``lr_finder=w`` follows each applied rate. Run the range test with the
    groups frozen as they will train (set the freeze controls first): the curve depends on
    which layers learn. cvnb's :func:`cvnb.train.fit` takes the rate explicitly:
    ``fit(learn, n, lr=w.chosen_lr)``.

    Input traits (Python ⇄ browser):
        start_lr (float), end_lr (float): The range tested (defaults 1e-7 and 10).
        num_it (int): Batches in the test (default 100; fastai's default, and fewer make
            the noise check complain).
        seed (int): Seeds the batches drawn: the same seed gives the same curve.
        chosen_lr (float): The rate picked (0 until a test ran or a rate was set).
        action (dict): A request the browser sets and Python clears: ``{"kind": "run"}``
            or ``{"kind": "apply"}``. Failures land in ``error``.

    Output traits (Python → browser):
        lrs (list[float]): Learning rate of each iteration.
        losses (list[float | None]): Smoothed loss per iteration (None where NaN).
        suggestions (dict[str, float | None]): fastai's ``minimum``, ``steep``,
            ``valley`` and ``slide`` (None where a method could not run).
        recommended (float), recommended_by (str): The suggestion to use and its method.
        noisy (bool), noise_reason (str): Whether the curve is too noisy to trust, and why
            (with the measured numbers).
        plot_png (bytes): The curve as PNG (loss against rate, suggestions marked), drawn
            once per test.
        plot_frame (dict): Where the plot's axes sit in the PNG, as fractions of its width
            and height from the top left (``x0``, ``x1``, ``y0``, ``y1``), and the log10
            rates at the axes' left and right edges (``log_lr_min``, ``log_lr_max``): the
            browser places the chosen-rate marker and reads clicks with it.
        status (str): ``"not run"``, ``"running"``, ``"done"`` or ``"failed"``.
        progress (float): Fraction of the test's batches done (0 to 1).
        applied_lr (float): The rate last applied to the learner (0: none yet).
        error (str): Message shown in the widget's error area; empty when all is well.

    Args:
        learn: A fastai ``Learner`` (e.g. from :func:`cvnb.train.make_learner`).
        result: A finished :class:`cvnb.train.LRFinderResult` to show instead of running.
        **kwargs: Initial trait values (``num_it``, ``start_lr``…).

    Example:
        >>> w = LRFinderWidget(learn, num_it=100)  # doctest: +SKIP
        >>> w.run(); w.chosen_lr = w.suggestions["minimum"] / 10; w.apply()  # doctest: +SKIP
    """

    _esm = asset_path("lr_finder.js")
    _css = widget_css("lr_finder.css")

    start_lr = traitlets.Float(1e-7).tag(sync=True)
    end_lr = traitlets.Float(10.0).tag(sync=True)
    num_it = traitlets.Int(100).tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)
    chosen_lr = traitlets.Float(0.0).tag(sync=True)
    action = traitlets.Dict().tag(sync=True)

    lrs = traitlets.List(traitlets.Float()).tag(sync=True)
    losses = traitlets.List(traitlets.Float(allow_none=True)).tag(sync=True)
    suggestions = traitlets.Dict().tag(sync=True)
    recommended = traitlets.Float(0.0).tag(sync=True)
    recommended_by = traitlets.Unicode("").tag(sync=True)
    noisy = traitlets.Bool(False).tag(sync=True)
    noise_reason = traitlets.Unicode("").tag(sync=True)
    plot_png = traitlets.Bytes(b"").tag(sync=True)
    plot_frame = traitlets.Dict().tag(sync=True)
    status = traitlets.Unicode("not run").tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    applied_lr = traitlets.Float(0.0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, learn: Learner, *, result: LRFinderResult | None = None, **kwargs: Any
    ) -> None:
        self._learn = learn
        self._result: LRFinderResult | None = None
        super().__init__(**kwargs)
        if result is not None:
            self._show(result)

    # ----------------------------------------------------------------- validation
    @traitlets.validate("start_lr", "end_lr", "chosen_lr")
    def _check_rate(self, proposal: Any) -> float:
        name, value = proposal["trait"].name, float(proposal["value"])
        low_ok = value >= 0 if name == "chosen_lr" else value > 0
        if not (math.isfinite(value) and low_ok):
            need = ">= 0 (0: none chosen)" if name == "chosen_lr" else "> 0"
            raise traitlets.TraitError(f"{name} must be a finite rate {need}, got {value}.")
        return value

    @traitlets.validate("num_it")
    def _check_num_it(self, proposal: Any) -> int:
        if proposal["value"] < 6:
            raise traitlets.TraitError(
                f"num_it must be at least 6 (fastai's minimum), got {proposal['value']}; "
                "100 gives a curve the suggestions can trust."
            )
        return proposal["value"]

    # ------------------------------------------------------------------ observers
    @traitlets.observe("action")
    @report_errors
    def _on_action(self, change: Any) -> None:
        dispatch_action(self, change["new"], _ACTIONS)

    # ----------------------------------------------------------------------- API
    @property
    def result(self) -> LRFinderResult | None:
        """The last range test (None before one ran)."""
        return self._result

    def run(self) -> LRFinderResult:
        """Run the range test on the learner (restored afterwards) and show its curve.

        The chosen rate becomes the test's recommendation.

        Returns:
            The :class:`cvnb.train.LRFinderResult`.

        Raises:
            ValueError: ``start_lr`` is not below ``end_lr``; anything fastai raises while
                training (the error also shows in the widget).
        """
        if self.start_lr >= self.end_lr:
            raise ValueError(
                f"start_lr ({self.start_lr:g}) must be below end_lr ({self.end_lr:g})."
            )
        with self.hold_sync():
            self.status, self.progress, self.error = "running", 0.0, ""
        meter = _Progress(self, self.num_it)
        try:
            with self._learn.added_cbs([meter]):
                result = find_lr(
                    self._learn,
                    start_lr=self.start_lr,
                    end_lr=self.end_lr,
                    num_it=self.num_it,
                    seed=self.seed,
                    progress=False,  # the widget shows its own progress
                )
        except Exception as exc:
            self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        self._show(result)
        return result

    def pick(self, method: str) -> float:
        """Choose a suggestion by method name (``minimum``, ``steep``, ``valley``, ``slide``)."""
        if method not in SUGGESTION_METHODS:
            raise ValueError(f"method must be one of {SUGGESTION_METHODS}, got {method!r}.")
        value = self.suggestions.get(method)
        if value is None:
            raise ValueError(f"no {method!r} suggestion: run() the range test first.")
        self.chosen_lr = value
        return value

    def apply(self, lr: float | None = None) -> pd.DataFrame:
        """Make ``lr`` (default: ``chosen_lr``) the learner's head rate; see the class docs.

        Returns:
            The learner's layer table after the change (:func:`cvnb.train.layer_table`).

        Raises:
            ValueError: No rate chosen yet.
        """
        if lr is not None:
            self.chosen_lr = lr
        if not self.chosen_lr > 0:
            raise ValueError("no rate chosen yet: run() the range test or set chosen_lr.")
        table = apply_freeze(self._learn, base_lr=self.chosen_lr)
        self.applied_lr = self.chosen_lr
        self.error = ""
        return table

    def plot(self) -> Figure:
        """The curve as a matplotlib Figure, with the chosen rate marked."""
        if self._result is None:
            raise ValueError("nothing to plot yet: run() the range test first.")
        return self._result.plot(chosen=self.chosen_lr or None)

    def __repr__(self) -> str:
        chosen = f"chosen {self.chosen_lr:.2e}" if self.chosen_lr else "no rate chosen"
        return f"<LRFinderWidget: {self.status}, {chosen}>"

    # ------------------------------------------------------------------ internals
    def _show(self, result: LRFinderResult) -> None:
        png, frame = _render(result)
        self._result = result
        with self.hold_sync():
            self.lrs = [float(v) for v in result.lrs]
            self.losses = [_finite_or_none(v) for v in result.losses]
            self.suggestions = {k: _finite_or_none(v) for k, v in result.suggestions.items()}
            self.recommended = _finite_or_none(result.recommended) or 0.0
            self.recommended_by = result.recommended_by
            self.noisy, self.noise_reason = result.noisy, result.noise_reason
            self.plot_png, self.plot_frame = png, frame
            self.chosen_lr = self.recommended
            self.status, self.progress, self.error = "done", 1.0, ""


class _Progress(Callback):
    """Writes the range test's progress into the widget (fastai's bar prints elsewhere)."""

    def __init__(self, widget: LRFinderWidget, num_it: int):
        self.widget, self.num_it, self.done = widget, max(num_it, 6), 0

    def after_batch(self) -> None:
        if self.training:
            self.done += 1
            self.widget.progress = min(1.0, self.done / self.num_it)


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _render(result: LRFinderResult) -> tuple[bytes, dict[str, float]]:
    """PNG of the curve, and where its axes sit in the image (for the browser's marker)."""
    fig = result.plot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    ax = fig.axes[0]
    box = ax.get_position()  # in figure fractions from the bottom left, after the layout
    low, high = ax.get_xlim()
    frame = {
        "x0": float(box.x0),
        "x1": float(box.x1),
        "y0": float(1 - box.y1),
        "y1": float(1 - box.y0),
        "log_lr_min": math.log10(low),
        "log_lr_max": math.log10(high),
    }
    return buffer.getvalue(), frame

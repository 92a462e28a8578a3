"""The result types: one map (:class:`Explanation`) and the maps of one image side by side."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from PIL import Image

from ._faithfulness import STEPS

_COLORMAP = "jet"


@dataclass
class Explanation:
    """One saliency map of one image for one class.

    Attributes:
        method: ``"gradcam"``, ``"shap"`` or ``"lime"``.
        target: The class explained (its name).
        heatmap: ``(S, S)`` float32 in [0, 1] over the model's input as shown
            (:attr:`Explanations.image`, letterbox borders included); 1 = most important.
        image: The model's input as an image (what ``overlay`` draws on).
        seconds: Wall time to make the map (the faithfulness scores and a one-time ONNX
            export are not counted; see ``info``).
        n_model_calls: Images run through the model to make the map (a Grad-CAM forward
            and backward pass counts as one).
        deletion_auc: RISE deletion AUC; lower is better (the class's probability falls
            fast as the top pixels are blacked out). None when not scored.
        insertion_auc: RISE insertion AUC; higher is better (it rises fast as the top
            pixels are put back on a blurred copy). None when not scored.
        random_baseline: The same two metrics (``"deletion"``, ``"insertion"``) for a
            seeded random map: a map worth reading beats both.
        runtime: Where the model ran to make the map: ``"torch"`` or ``"onnxruntime"``.
        info: Details: the budget, Grad-CAM's layer and group, the scoring runtime and
            seconds, any one-time export seconds.
    """

    method: str
    target: str
    heatmap: np.ndarray
    image: Image.Image
    seconds: float
    n_model_calls: int
    deletion_auc: float | None = None
    insertion_auc: float | None = None
    random_baseline: dict[str, float] = field(default_factory=dict)
    runtime: str = "torch"
    info: dict = field(default_factory=dict)

    def overlay(self, alpha: float = 0.5) -> Image.Image:
        """The heatmap in colour over the model's input; ``alpha`` is the map's opacity."""
        return overlay(self.image, self.heatmap, alpha)

    @property
    def beats_random(self) -> bool | None:
        """Whether deletion AUC is lower than the random map's (None when not scored)."""
        if self.deletion_auc is None or "deletion" not in self.random_baseline:
            return None
        return self.deletion_auc < self.random_baseline["deletion"]

    def row(self) -> dict:
        """One row of :attr:`Explanations.table`."""
        return {
            "method": self.method,
            "target": self.target,
            "seconds": round(self.seconds, 3),
            "n_model_calls": self.n_model_calls,
            "deletion_auc": self.deletion_auc,
            "insertion_auc": self.insertion_auc,
            "random_deletion_auc": self.random_baseline.get("deletion"),
            "random_insertion_auc": self.random_baseline.get("insertion"),
            "runtime": self.runtime,
        }

    def __repr__(self) -> str:
        scores = ""
        if self.deletion_auc is not None:
            scores = (
                f", deletion={self.deletion_auc:.3f} (random "
                f"{self.random_baseline.get('deletion', float('nan')):.3f}), "
                f"insertion={self.insertion_auc:.3f} (random "
                f"{self.random_baseline.get('insertion', float('nan')):.3f})"
            )
        return (
            f"Explanation({self.method!r}, target={self.target!r}, "
            f"{self.seconds:.2f} s, {self.n_model_calls} model calls, {self.runtime}{scores})"
        )


def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """``heatmap`` ([0, 1], same size) coloured and blended over ``image``."""
    import matplotlib

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if rgb.shape[:2] != heatmap.shape:
        raise ValueError(f"heatmap {heatmap.shape} does not match the image {rgb.shape[:2]}")
    colour = matplotlib.colormaps[_COLORMAP](np.clip(heatmap, 0, 1))[..., :3]
    out = (1 - alpha) * rgb + alpha * colour
    return Image.fromarray(np.clip(np.rint(out * 255), 0, 255).astype(np.uint8))


class Explanations(Mapping[str, Explanation]):
    """The maps of one image, by method, with the image as read and as the model saw it.

    Attributes:
        image: The model's input as an image (validation preprocessing, ``S×S``).
        original: The image as read, untouched.
        target: The class explained.
        probs: The model's probability for each class (name → probability).
    """

    def __init__(
        self,
        maps: Mapping[str, Explanation],
        *,
        image: Image.Image,
        original: Image.Image,
        target: str,
        probs: dict[str, float],
    ) -> None:
        self._maps = dict(maps)
        self.image = image
        self.original = original
        self.target = target
        self.probs = probs

    def __getitem__(self, method: str) -> Explanation:
        return self._maps[method]

    def __iter__(self) -> Iterator[str]:
        return iter(self._maps)

    def __len__(self) -> int:
        return len(self._maps)

    @property
    def table(self) -> pd.DataFrame:
        """One row per method: seconds, model calls, deletion/insertion AUC and the random
        map's, the runtime. Lower deletion and higher insertion are better."""
        return pd.DataFrame([e.row() for e in self._maps.values()])

    def plot(self, alpha: float = 0.5):
        """The original, the model's input and each map over it, side by side.

        Returns:
            A matplotlib ``Figure``.
        """
        from matplotlib.figure import Figure

        n = 2 + len(self._maps)
        fig = Figure(figsize=(3 * n, 3.4))
        axes = fig.subplots(1, n, squeeze=False)[0]
        prob = self.probs.get(self.target, float("nan"))
        panels = [
            (self.original, "original"),
            (self.image, f"model input\n{self.target}: p={prob:.2f}"),
        ]
        for e in self._maps.values():
            title = f"{e.method}  {e.seconds:.1f} s, {e.n_model_calls} calls"
            if e.deletion_auc is not None:
                title += (
                    f"\ndel {e.deletion_auc:.2f} (rand {e.random_baseline['deletion']:.2f})"
                    f"  ins {e.insertion_auc:.2f} (rand {e.random_baseline['insertion']:.2f})"
                )
            panels.append((e.overlay(alpha), title))
        for ax, (img, title) in zip(axes, panels, strict=True):
            ax.imshow(img)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        fig.suptitle(
            f"Deletion: lower is better; insertion: higher is better ({STEPS} steps, RISE)",
            fontsize=8,
        )
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        return f"Explanations(target={self.target!r}, methods={list(self._maps)})"

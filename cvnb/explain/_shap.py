"""SHAP: shap's Partition explainer over the image, pixels hidden by blurring."""

from __future__ import annotations

import numpy as np

#: Default ``max_evals`` (model calls per image). shap's own MobileNetV2 notebook spends
#: about 5,000; 500 keeps the map within the 15 s bar on 2 CPU cores at 224 px with
#: onnxruntime (see ``bench/explain.py``).
SHAP_MAX_EVALS = 500


def blur_kernel(size: int) -> int:
    """Side of the masker's box blur: 16 px at 224 px (shap's examples use 128 at ~400)."""
    return max(3, round(16 * size / 224))


def shap_map(model_fn, array: np.ndarray, index: int, *, budget: int, seed: int = 0):
    """SHAP values of one image for output ``index``, as a map in [0, 1].

    The positive attributions (evidence for the class) summed over channels, divided by
    their maximum; negative evidence is 0.

    Args:
        model_fn: Probabilities of ``(N, S, S, 3)`` [0, 1] images (``ModelFn``).
        array: ``(S, S, 3)`` float32 in [0, 1].
        index: The target class's output index.
        budget: ``max_evals``.
        seed: Unused by the Partition explainer (deterministic); kept for symmetry.

    Returns:
        ``(heatmap, raw)``: the map and the signed per-pixel values.
    """
    import shap

    del seed
    k = blur_kernel(array.shape[0])
    masker = shap.maskers.Image(f"blur({k},{k})", array.shape)

    def f(images: np.ndarray) -> np.ndarray:
        return model_fn(images)[:, [index]]

    explainer = shap.explainers.Partition(f, masker)
    size = array.shape[0]
    batch = max(8, min(128, (64 * 224 * 224) // (size * size)))
    values = explainer(
        array[None], max_evals=int(budget), batch_size=batch, silent=True
    ).values  # (1, H, W, 3, 1)
    raw = np.asarray(values)[0, ..., 0].sum(axis=-1).astype(np.float32)
    return positive_part(raw), raw


def positive_part(raw: np.ndarray) -> np.ndarray:
    """Evidence for the class, scaled to [0, 1] (all zeros when there is none)."""
    pos = np.clip(np.nan_to_num(raw), 0.0, None)
    top = float(pos.max()) if pos.size else 0.0
    return (pos / top).astype(np.float32) if top > 0 else np.zeros_like(pos, dtype=np.float32)

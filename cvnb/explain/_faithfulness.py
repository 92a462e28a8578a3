"""Deletion and insertion AUC (RISE, Petsiuk et al. 2018): does the map find what matters?

Pixels are ranked by the map (most important first; ties broken at random, seeded).
*Deletion* blacks out the top pixels in :data:`STEPS` equal steps and follows the target
class's probability down: a faithful map makes it drop fast, so **lower deletion AUC is
better**. *Insertion* starts from a blurred copy (the RISE canvas) and puts the top pixels
back: a faithful map makes the probability rise fast, so **higher insertion AUC is
better**. Both areas are in [0, 1] (the probability curve over the fraction of pixels
changed, trapezoid rule). Every curve is one batched model call of ``STEPS + 1`` images.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

#: Steps of each curve: ``STEPS + 1`` images per curve, deleting or inserting
#: ``1/STEPS`` of the pixels each time.
STEPS = 20


def blurred(array: np.ndarray) -> np.ndarray:
    """The insertion canvas: a Gaussian blur (σ = 5 px at 224 px, as RISE, scaled by size)."""
    sigma = max(1.0, 5.0 * array.shape[0] / 224)
    return gaussian_filter(array, sigma=(sigma, sigma, 0), mode="nearest").astype(np.float32)


def ranking(heatmap: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices, most important first; equal values in a seeded random order."""
    rng = np.random.default_rng(seed)
    flat = heatmap.reshape(-1)
    return np.lexsort((rng.random(flat.size), -flat))


def random_map(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A seeded uniform-noise map: the baseline every method must beat."""
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def centre_map(shape: tuple[int, int]) -> np.ndarray:
    """A centred Gaussian (σ = a quarter of the side): the trivial 'object in the middle' map."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    sy, sx = h / 4, w / 4
    g = np.exp(-(((y - (h - 1) / 2) / sy) ** 2 + ((x - (w - 1) / 2) / sx) ** 2) / 2)
    return (g / g.max()).astype(np.float32)


def deletion_insertion(
    model_fn, array: np.ndarray, heatmap: np.ndarray, index: int, *, seed: int = 0
) -> tuple[float, float]:
    """``(deletion_auc, insertion_auc)`` of one map for class ``index``.

    Args:
        model_fn: Probabilities of ``(N, S, S, 3)`` [0, 1] images (``ModelFn``).
        array: The model's input, ``(S, S, 3)`` float32 in [0, 1].
        heatmap: ``(S, S)`` importance (any scale; only the order matters).
        index: The target class's output index.
        seed: Tie-breaking seed.
    """
    h, w = heatmap.shape
    order = ranking(heatmap, seed)
    counts = np.rint(np.linspace(0, h * w, STEPS + 1)).astype(int)
    rank = np.empty(h * w, dtype=np.int64)
    rank[order] = np.arange(h * w)
    masks = (rank[None, :] < counts[:, None]).reshape(-1, h, w, 1)  # True: changed
    canvas = blurred(array)
    deleted = np.where(masks, np.float32(0.0), array[None])
    inserted = np.where(masks, array[None], canvas[None])
    probs = model_fn(np.concatenate([deleted, inserted]))[:, index].astype(np.float64)
    dx = 1.0 / STEPS
    deletion = float(np.trapezoid(probs[: STEPS + 1], dx=dx))
    insertion = float(np.trapezoid(probs[STEPS + 1 :], dx=dx))
    return min(max(deletion, 0.0), 1.0), min(max(insertion, 0.0), 1.0)

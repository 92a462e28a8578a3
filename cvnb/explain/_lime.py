"""LIME: lime's image explainer over SLIC superpixels, seeded."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from ._shap import positive_part

#: Default ``num_samples`` (model calls per image). lime's default is 1,000.
LIME_NUM_SAMPLES = 500
#: SLIC superpixels asked for (lime's features).
N_SEGMENTS = 50


def segments(array: np.ndarray) -> np.ndarray:
    """SLIC superpixels of one image, labelled 0 … n-1 (what lime expects)."""
    from skimage.segmentation import slic

    labels = slic(array.astype(np.float64), n_segments=N_SEGMENTS, compactness=10, start_label=0)
    _, dense = np.unique(labels, return_inverse=True)
    return dense.reshape(labels.shape)


def lime_map(model_fn, array: np.ndarray, index: int, *, budget: int, seed: int = 0):
    """LIME weights of one image for output ``index``, as a map in [0, 1].

    Superpixels are hidden with their mean colour (lime's default), ``budget`` perturbed
    images are classified in batches, and the positive weights of lime's local linear
    model (evidence for the class), painted on their superpixels and divided by their
    maximum, are the map.

    Returns:
        ``(heatmap, raw)``: the map and the signed per-pixel weights.
    """
    from lime.lime_image import LimeImageExplainer

    segs = segments(array)
    size = array.shape[0]
    batch = max(8, min(128, (64 * 224 * 224) // (size * size)))
    explainer = LimeImageExplainer(random_state=seed)
    with _quiet_lime():
        explanation = explainer.explain_instance(
            array.astype(np.float64),
            lambda images: model_fn(np.asarray(images, dtype=np.float32)),
            labels=(index,),
            top_labels=None,
            num_samples=int(budget),
            batch_size=batch,
            segmentation_fn=lambda _image: segs,
            random_seed=seed,
        )
    weights = np.zeros(int(segs.max()) + 1, dtype=np.float32)
    for segment, weight in explanation.local_exp[index]:
        weights[segment] = weight
    raw = weights[segs]
    return positive_part(raw), raw


@contextlib.contextmanager
def _quiet_lime() -> Iterator[None]:
    """lime 0.2 draws a tqdm bar over its samples with no way to turn it off; hide it."""
    import lime.lime_image as module

    bar = module.tqdm
    module.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        yield
    finally:
        module.tqdm = bar

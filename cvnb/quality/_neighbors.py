"""k nearest neighbours by cosine similarity: exact for small sets, faiss IVF for large ones."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["EXACT_MAX", "nearest_neighbors"]

#: Largest set searched exactly by default. Exact search costs n² · dim: 20,000 vectors of
#: 704 dims took 20–25 s on one (shared) core here, growing quadratically; the IVF index
#: costs about the same at 20,000 and ~n^1.5 above it (see ``_approximate``).
EXACT_MAX = 20_000

# IVF-Flat settings. Measured here on 20,000 vectors of 704 dims (one thread, rough): real
# image embeddings with small noise added (~11 variants each), recall@10 against exact search
# 0.963 / 0.985 / 0.996 / 0.999 at nprobe 8 / 16 / 32 / 64 with nlist = 4·sqrt(n) = 565;
# 400 Gaussian clusters around real embeddings 1.000 at every nprobe. HNSW (M=32,
# efConstruction=80) was slower to build than exact search took at 20,000 on one core, and
# on unstructured Gaussian vectors reached only 0.60 recall@10, so it was not used.
_NLIST_PER_SQRT_N = 4
_NPROBE_MIN = 32
_NPROBE_FRACTION = 32  # nprobe = max(_NPROBE_MIN, nlist // _NPROBE_FRACTION)


def nearest_neighbors(
    emb: np.ndarray,
    k: int,
    *,
    exact_max: int = EXACT_MAX,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` most similar other rows by cosine similarity.

    Rows are L2-normalised here (a no-op for :class:`~cvnb.quality._embed.Embedder`
    output), so inner product is cosine. Up to ``exact_max`` rows the search is exact
    (``faiss.IndexFlatIP``, which works in blocks: memory stays O(n · k), never n × n);
    above it an approximate ``faiss.IndexIVFFlat`` index is built (recall@10 ≈ 0.99 on
    image embeddings; a missed neighbour is replaced by a slightly less similar one).

    A row never lists itself, even when identical rows exist (an exact duplicate is then
    listed as a neighbour with similarity 1).

    Args:
        emb: float ``(n, dim)`` embeddings.
        k: Neighbours per row. When ``n - 1 < k`` the missing places hold index ``-1`` and
            similarity ``nan``.
        exact_max: Largest ``n`` searched exactly.
        threads: faiss OpenMP threads for this call (None: ``torch.get_num_threads()``
            when torch is imported, else faiss's default, which honours ``OMP_NUM_THREADS``).

    Returns:
        ``(similarities, indices)``: float32 ``(n, k)`` cosines, most similar first, and
        int64 ``(n, k)`` row indices.

    Example:
        >>> x = np.eye(3, dtype=np.float32)
        >>> sims, idx = nearest_neighbors(x, 1)
        >>> idx.shape
        (3, 1)
    """
    import faiss

    x = _unit_rows(emb)
    n = len(x)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    sims = np.full((n, k), np.nan, dtype=np.float32)
    idx = np.full((n, k), -1, dtype=np.int64)
    if n < 2:
        return sims, idx
    kk = min(k + 1, n)  # one more: the row itself is usually among its own neighbours
    with _faiss_threads(threads):
        if n <= exact_max:
            index = faiss.IndexFlatIP(x.shape[1])
            index.add(x)
        else:
            index = _approximate(x)
        found_s, found_i = index.search(x, kk)
    got_s, got_i = _drop_self(found_s, found_i)
    m = min(k, got_i.shape[1])
    sims[:, :m], idx[:, :m] = got_s[:, :m], got_i[:, :m]
    np.clip(sims, -1.0, 1.0, out=sims)  # float32 rounding gives 1.0000002 for duplicates
    sims[idx < 0] = np.nan
    return sims, idx


def _approximate(x: np.ndarray):
    """A trained, filled ``faiss.IndexIVFFlat`` over ``x`` (inner product)."""
    import faiss

    n, dim = x.shape
    nlist = max(1, int(_NLIST_PER_SQRT_N * np.sqrt(n)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10
    index.cp.seed = 1234  # k-means seed: the same input gives the same lists
    index.cp.min_points_per_centroid = 5  # no warning below faiss's 39 points per list
    index.cp.max_points_per_centroid = 64  # train k-means on a sample, not all of x
    index.train(x)
    index.add(x)
    index.nprobe = min(nlist, max(_NPROBE_MIN, nlist // _NPROBE_FRACTION))
    return index


def _unit_rows(emb: np.ndarray) -> np.ndarray:
    x = np.asarray(emb, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (n, dim), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or inf; drop those rows first")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def _drop_self(sims: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index; where it was not found, drop the last column instead."""
    n, kk = idx.shape
    own = idx == np.arange(n)[:, None]
    missing = ~own.any(axis=1)
    own[missing, kk - 1] = True
    keep = ~own
    return sims[keep].reshape(n, kk - 1), idx[keep].reshape(n, kk - 1)


@contextmanager
def _faiss_threads(threads: int | None) -> Iterator[None]:
    import faiss

    torch = sys.modules.get("torch")  # None when absent (or blocked, as tests do)
    if threads is None and torch is not None:
        threads = torch.get_num_threads()
    if threads is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(threads))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)

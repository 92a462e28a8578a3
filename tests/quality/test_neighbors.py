"""nearest_neighbors: exact search equals brute force; the approximate index keeps recall."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from cvnb.quality._neighbors import nearest_neighbors


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """Unit vectors around random centres: the structure image embeddings have."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(clusters, dim)))
    noise = rng.normal(scale=0.5 / np.sqrt(dim), size=(n, dim))
    return _unit(centres[rng.integers(clusters, size=n)] + noise)


def test_exact_search_equals_brute_force() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 24)).astype(np.float32) * rng.uniform(0.5, 3, size=(300, 1))
    x[7] = x[3]  # an exact duplicate pair: each must list the other, never itself
    k = 5
    sims, idx = nearest_neighbors(x, k)

    unit = _unit(x)
    full = unit @ unit.T
    np.fill_diagonal(full, -np.inf)
    expected = -np.sort(-full, axis=1)[:, :k]
    np.testing.assert_allclose(sims, expected, atol=1e-5)
    assert (idx != np.arange(len(x))[:, None]).all()
    np.testing.assert_allclose(np.take_along_axis(full, idx, axis=1), sims, atol=1e-5)
    assert idx[3, 0] == 7 and idx[7, 0] == 3 and sims[3, 0] == pytest.approx(1.0)
    assert sims.dtype == np.float32 and idx.dtype == np.int64


def test_approximate_index_keeps_recall() -> None:
    # 400 clusters of ~10: neighbours straddle the index's lists (unstructured vectors gave 0.67).
    x = _clustered(4000, 64, clusters=400, seed=1)
    exact_s, exact_i = nearest_neighbors(x, 10)
    approx_s, approx_i = nearest_neighbors(x, 10, exact_max=500)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx_i, exact_i, strict=True)])
    assert recall >= 0.95
    assert (approx_i != np.arange(len(x))[:, None]).all()
    # A neighbour it misses is replaced by a less similar one, never a more similar one.
    assert (approx_s[:, 0] <= exact_s[:, 0] + 1e-5).all()


def test_small_sets_are_padded() -> None:
    x = np.eye(3, dtype=np.float32)
    sims, idx = nearest_neighbors(x, 4)
    assert sims.shape == idx.shape == (3, 4)
    assert (idx[:, 2:] == -1).all() and np.isnan(sims[:, 2:]).all()
    assert sorted(idx[0, :2]) == [1, 2]
    one_s, one_i = nearest_neighbors(x[:1], 2)
    assert (one_i == -1).all() and np.isnan(one_s).all()
    assert nearest_neighbors(np.zeros((0, 5), np.float32), 3)[1].shape == (0, 3)


def test_threads_are_restored_and_bad_input_is_refused() -> None:
    before = faiss.omp_get_max_threads()
    nearest_neighbors(_clustered(50, 8, 3, seed=2), 3, threads=1)
    assert faiss.omp_get_max_threads() == before
    with pytest.raises(ValueError, match="NaN"):
        nearest_neighbors(np.array([[1.0, np.nan], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match="2-D"):
        nearest_neighbors(np.ones(4), 1)
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbors(np.eye(3), 0)

"""Content hashes, perceptual hashes, colour layouts, and the duplicate groups they give.

- Exact duplicates: the sha256 of the file's bytes.
- Near duplicates, three kinds of evidence: imagehash's 64-bit perceptual hash (pHash: the
  signs of the lowest 8×8 DCT coefficients of a 32×32 greyscale thumbnail), compared by
  Hamming distance with a faiss binary index (exact and fast on large sets); a colour
  layout (an 8×8 thumbnail, see :func:`layout_vectors`); and the embedding (passed in).
- Groups: connected components (union-find) of the pairs that count as duplicates.

Why pHash, with at most 10 bits (less in sets of look-alike images, see
:func:`adaptive_hash_bits`): measured on 162 real photos (COCO crops) and their copies,
pHash matched 100 % of copies resized to half size or double, re-saved as JPEG at quality
40, or brightened/darkened by 30 levels (median 0–2 bits, worst 4–12), and 97 % of copies
with 5 % centre crops (median 6), while two different photos were never closer than 16
bits. dHash did as well on resizes but worse on darkening (worst 21 bits); average and
wavelet hashes put different photos 6–8 bits apart. Crops of 10 % and more move pHash
12–30 bits, which is why the embedding joins the hash (see
:func:`cvnb.quality._scan.scan_quality`).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
from PIL import Image

from ._image_stats import working_copy

__all__ = [
    "HASH_BITS",
    "LAYOUT_SIZE",
    "PHASH_VERSION",
    "adaptive_cosine",
    "adaptive_hash_bits",
    "colour_layout",
    "connected_groups",
    "duplicate_scores",
    "exact_groups",
    "hamming",
    "hash_pairs",
    "layout_vectors",
    "nearest_hash_distance",
    "perceptual_hash",
    "sha256_file",
]

#: Bump when the perceptual hash changes: cached hashes of another version are recomputed.
PHASH_VERSION = "phash8+layout8-v1"
HASH_BITS = 64
#: Side of the colour-layout thumbnail (:func:`colour_layout`).
LAYOUT_SIZE = 8
_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_BLOCK = 1 << 20
_PAIR_BLOCK = 4096
_HASH_SIZE = 256  # pHash and layout are computed on the image shrunk to this: faster


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (memory stays flat)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def perceptual_hash(image: Image.Image) -> int:
    """64-bit pHash of a decoded image as an unsigned int (bit 63 = first DCT sign).

    Computed on the :func:`~cvnb.quality._image_stats.working_copy` (at most 256 px), which
    gives the same hash as the full image up to a bit or two and is much faster on photos.
    """
    import imagehash  # lazy: scipy's DCT is only needed while scanning

    bits = imagehash.phash(working_copy(image, _HASH_SIZE)).hash.ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _as_bytes(hashes: np.ndarray) -> np.ndarray:
    """uint64 hashes → ``(n, 8)`` uint8 rows, the layout faiss's binary indexes take."""
    return np.ascontiguousarray(np.asarray(hashes, dtype=">u8")).view(np.uint8).reshape(-1, 8)


def hash_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of hashes at most ``max_distance`` bits apart (exact search).

    Args:
        hashes: uint64 ``(n,)``.
        max_distance: Largest Hamming distance that counts.

    Returns:
        ``(pairs, distances)``: int64 ``(m, 2)`` with ``i < j``, each pair once, and int64
        ``(m,)`` Hamming distances.
    """
    import faiss

    n = len(hashes)
    if n < 2 or max_distance < 0:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64)
    bits = _as_bytes(hashes)
    index = faiss.IndexBinaryFlat(HASH_BITS)
    index.add(bits)
    lims, dist, idx = index.range_search(bits, int(max_distance) + 1)  # finds d < radius
    rows = np.repeat(np.arange(n), np.diff(lims).astype(np.int64))
    idx = idx.astype(np.int64)
    keep = rows < idx
    pairs = np.stack([rows[keep], idx[keep]], axis=1).astype(np.int64)
    return pairs, dist[keep].astype(np.int64)


def nearest_hash_distance(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each hash's nearest *other* hash: ``(distance, index)``.

    Returns:
        float64 ``(n,)`` Hamming distances (NaN when n < 2) and int64 ``(n,)`` row indices
        (-1 when n < 2).
    """
    import faiss

    n = len(hashes)
    if n < 2:
        return np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
    bits = _as_bytes(hashes)
    index = faiss.IndexBinaryFlat(HASH_BITS)
    index.add(bits)
    dist, idx = index.search(bits, min(n, 3))
    # Identical hashes tie, so a row's own entry need not come first: drop it by index.
    dist = np.where(idx == np.arange(n)[:, None], np.iinfo(np.int32).max, dist)
    best = dist.argmin(axis=1)
    rows = np.arange(n)
    return dist[rows, best].astype(np.float64), idx[rows, best].astype(np.int64)


def hamming(hashes: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Hamming distances between ``hashes[i]`` and ``hashes[j]`` (element-wise)."""
    x = np.bitwise_xor(np.asarray(hashes, np.uint64)[i], np.asarray(hashes, np.uint64)[j])
    return np.unpackbits(x.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


def connected_groups(n: int, pairs: np.ndarray) -> np.ndarray:
    """Group ids from pairs: connected components of size two or more.

    Args:
        n: Number of items.
        pairs: int ``(m, 2)`` item indices that belong together.

    Returns:
        int64 ``(n,)``: -1 for an item in no pair, else a group id. Ids are 0, 1, 2… in the
        order of each group's first item, so they are stable for the same input.
    """
    parent = np.arange(n)

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:  # path compression
            parent[a], a = root, parent[a]
        return root

    for a, b in np.asarray(pairs, dtype=np.int64).reshape(-1, 2):
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    sizes = np.bincount(roots, minlength=n)
    ids = np.full(n, -1, dtype=np.int64)
    next_id: dict[int, int] = {}
    for i, root in enumerate(roots):
        if sizes[root] >= 2:
            ids[i] = next_id.setdefault(int(root), len(next_id))
    return ids


def exact_groups(keys: list[str | None]) -> np.ndarray:
    """Group ids of equal keys (content hashes); None never joins a group.

    Returns:
        int64 ``(n,)`` like :func:`connected_groups`.
    """
    first: dict[str, int] = {}
    pairs = []
    for i, key in enumerate(keys):
        if key is None:
            continue
        if key in first:
            pairs.append((first[key], i))
        else:
            first[key] = i
    return connected_groups(len(keys), np.array(pairs, dtype=np.int64).reshape(-1, 2))


def colour_layout(image: Image.Image) -> bytes:
    """The image as an 8×8 RGB thumbnail (box filter), 192 bytes: see :func:`layout_vectors`."""
    rgb = working_copy(image if image.mode == "RGB" else image.convert("RGB"), _HASH_SIZE)
    small = rgb.resize((LAYOUT_SIZE, LAYOUT_SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8).tobytes()


def layout_vectors(thumbs: np.ndarray) -> np.ndarray:
    """Colour-layout descriptors from 8×8 RGB thumbnails: unit vectors compared by cosine.

    Each thumbnail goes to YCbCr; the luma has its mean removed, the chroma (zero for grey)
    is kept; the 192 values are scaled to unit length. So the descriptor does not change
    when every pixel is brightened by a factor or an offset, and re-compression or
    resizing barely moves it. Measured on real photos (COCO crops), copies re-saved as
    JPEG at quality 15, resized to 0.6 and back, or brightened by 20 % or +30 levels kept
    a cosine of 0.99 or more (5th percentile), while no two different photos were above
    0.85; the chroma is weighted 1, since more weight let unrelated images of similar
    colour come closer. It is the pixel-level partner of the embedding, which is better at
    crops. (MPEG-7's colour layout descriptor is the same idea, in DCT coefficients.)

    Args:
        thumbs: uint8 ``(n, 192)`` from :func:`colour_layout`.

    Returns:
        float32 ``(n, 192)`` unit rows (a constant image gives a zero row).
    """
    x = np.asarray(thumbs, dtype=np.float64).reshape(-1, LAYOUT_SIZE * LAYOUT_SIZE, 3) @ _YCBCR.T
    x[..., 0] -= x[..., 0].mean(axis=1, keepdims=True)
    x = x.reshape(len(x), -1)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    # Below half a grey level of spread the image is flat: a zero row, not rounding noise.
    return np.where(norm > 0.5, x / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


def adaptive_hash_bits(hashes: np.ndarray, max_bits: int) -> int:
    """The pHash distance that still counts as a near duplicate in this set.

    At most ``max_bits``, and at most a fifth of the distance within which a quarter of
    the images have their nearest other hash: in a set of look-alike images (scanned
    digits, documents, product shots on white) different images have close hashes, and a
    hash match says little. Measured: on 162 COCO crops that distance is ~19 bits, giving
    3 (copies resized, re-compressed or brightened stay within 0–4 bits, and the colour
    layout and the embedding find the rest); on 32 px colour digits it is ~9, giving 1,
    where 2 bits already joined twice as many different digits as planted copies.
    """
    d_nn, _ = nearest_hash_distance(hashes)
    if not np.isfinite(d_nn).any():
        return int(max_bits)
    return int(min(max_bits, np.floor(np.nanquantile(d_nn, 0.25) / 5)))


def adaptive_cosine(nearest: np.ndarray, cutoff: float) -> float:
    """The cosine that still counts as a near duplicate in this set (the rule of
    :func:`adaptive_hash_bits` for a cosine): at least ``cutoff``, and close enough that
    the distance ``1 - cosine`` is at most half the distance within which a quarter of the
    images have their nearest neighbour.

    Measured on the 1,797 clean 8×8 digit scans, where the same digit by different hands is
    as alike as a re-compressed copy: the embedding's cut-off rises from 0.96 to 0.986
    (the colour layout's stays at 0.98), and the images flagged as near duplicates fall
    from over 1,000 to 59. On 32 px colour digits the embedding's rises to 0.969 only, and
    on real photos (COCO crops) both keep their defaults.

    Args:
        nearest: Each image's cosine to its nearest other image (NaN ignored).
        cutoff: The default cut-off.
    """
    d = 1.0 - np.asarray(nearest, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not len(d):
        return float(cutoff)
    return float(max(cutoff, 1.0 - np.quantile(d, 0.25) / 2))


def duplicate_scores(
    shas: list[str],
    hashes: np.ndarray,
    splits: list,
    *,
    similarity: float,
    hash_bits: int,
    views: list[tuple[np.ndarray, np.ndarray, float, np.ndarray]] = (),
    hash_ok: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Exact and near-duplicate groups, their scores, and leakage across splits.

    Candidate pairs are: equal content hashes, pHash pairs within ``hash_bits``, each
    image and its nearest hash, and each image and its nearest neighbours in every view.
    Every candidate pair gets one similarity ``s`` in [0, 1]: 1 for equal content hashes,
    else the largest of its evidence, each mapped so that its own threshold lands on
    ``similarity``: a pHash distance of ``d`` bits gives ``1 - (1 - similarity) · d /
    (hash_bits + 1)``; a cosine ``c`` in a view with threshold ``t`` gives ``1 - (1 -
    similarity) · (1 - c) / (1 - t)``. Evidence counts only when both images may use it
    (``hash_ok``, a view's mask). Pairs with ``s >= similarity`` join images into near
    groups (connected components).

    Args:
        shas: Content hash per image (all readable).
        hashes: uint64 perceptual hash per image.
        splits: Split per image (None where unknown).
        similarity: The combined similarity that makes a pair near duplicates.
        hash_bits: Largest pHash distance that makes a pair near duplicates.
        views: ``(vectors, neighbours, threshold, ok)`` per cosine descriptor: unit
            vectors, each row's nearest neighbours in it (the int ``(n, k)`` indices from
            ``nearest_neighbors``), the cosine that makes a pair near duplicates, and a
            bool mask of the images whose vector is meaningful.
        hash_ok: Bool mask of the images whose pHash is meaningful (default: all).

    Returns:
        Arrays of length n: ``exact_group``, ``near_group`` (-1: none), ``near_score``
        (``1 -`` the largest ``s`` over the image's candidate pairs), ``leakage`` (bool:
        the near group spans two or more splits) and ``leakage_score`` (``1 -`` the largest
        ``s`` of a pair that crosses splits: within the group for a flagged image, among
        the image's candidates otherwise; NaN without a split).
    """
    n = len(shas)
    hash_ok = np.ones(n, dtype=bool) if hash_ok is None else np.asarray(hash_ok, dtype=bool)
    exact = exact_groups(list(shas))
    _, nearest_hash = nearest_hash_distance(hashes)
    lists = [hash_pairs(hashes, hash_bits)[0], _exact_pairs(exact), _pairs(nearest_hash[:, None])]
    lists += [_pairs(idx) for _, idx, _, _ in views]
    pairs = np.unique(np.concatenate(lists).reshape(-1, 2).astype(np.int64), axis=0)
    i, j = pairs[:, 0], pairs[:, 1]
    step = (1.0 - similarity) / (hash_bits + 1)
    sim = np.where(hash_ok[i] & hash_ok[j], 1.0 - step * hamming(hashes, i, j), 0.0)
    for vectors, _, thr, ok in views:
        cos = _pair_cosines(vectors, i, j)
        mapped = 1.0 - (1.0 - similarity) / (1.0 - thr) * (1.0 - cos)
        sim = np.maximum(sim, np.where(ok[i] & ok[j], mapped, 0.0))
    sim[(exact[i] >= 0) & (exact[i] == exact[j])] = 1.0
    sim = np.clip(sim, 0.0, 1.0)
    edge = sim >= similarity
    near = connected_groups(n, pairs[edge])
    best = np.zeros(n)
    np.maximum.at(best, i, sim)
    np.maximum.at(best, j, sim)
    leak, leakage_score = _leakage(near, splits, i, j, sim, edge)
    return {
        "exact_group": exact,
        "near_group": near,
        "near_score": np.clip(1.0 - best, 0.0, 1.0),
        "leakage": leak,
        "leakage_score": leakage_score,
    }


def _pair_cosines(vectors: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Row-wise dot products of ``vectors[i]`` and ``vectors[j]``, in blocks, so that memory
    stays at a block of rows rather than two copies of ``len(i)`` rows."""
    out = np.empty(len(i), dtype=np.float64)
    for start in range(0, len(i), _PAIR_BLOCK):
        a, b = i[start : start + _PAIR_BLOCK], j[start : start + _PAIR_BLOCK]
        out[start : start + len(a)] = np.einsum("ij,ij->i", vectors[a], vectors[b])
    return out


def _pairs(neighbours: np.ndarray) -> np.ndarray:
    """``(n, k)`` neighbour indices (-1: none) → ``(m, 2)`` pairs with ``i < j``."""
    n, k = neighbours.shape
    rows = np.repeat(np.arange(n), k)
    cols = neighbours.ravel()
    keep = (cols >= 0) & (cols != rows)
    a, b = rows[keep], cols[keep]
    return np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)


def _exact_pairs(exact: np.ndarray) -> np.ndarray:
    """Each member of an exact group paired with the group's first member."""
    first: dict[int, int] = {}
    pairs = []
    for k in np.flatnonzero(exact >= 0):
        g = int(exact[k])
        if g in first:
            pairs.append((first[g], int(k)))
        else:
            first[g] = int(k)
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _leakage(
    near: np.ndarray, splits: list, i: np.ndarray, j: np.ndarray, sim: np.ndarray, edge
) -> tuple[np.ndarray, np.ndarray]:
    """Flags (near group spans splits) and scores (closest cross-split pair) of leakage."""
    split = np.array([None if s is None or s != s else str(s) for s in splits], dtype=object)
    known = np.array([s is not None for s in split], dtype=bool)
    group_splits: dict[int, set] = {}
    for g, s in zip(near, split, strict=True):
        if g >= 0 and s is not None:
            group_splits.setdefault(int(g), set()).add(s)
    spanning = {g for g, found in group_splits.items() if len(found) >= 2}
    leak = np.array([int(g) in spanning for g in near], dtype=bool)
    cross = known[i] & known[j] & (split[i] != split[j])
    best = np.zeros(len(near))
    np.maximum.at(best, i[cross], sim[cross])
    np.maximum.at(best, j[cross], sim[cross])
    # A flagged image shares its group's closest cross-split pair, which may not be its own.
    group_best: dict[int, float] = {}
    for a, s in zip(i[cross & edge], sim[cross & edge], strict=True):
        g = int(near[a])
        group_best[g] = max(group_best.get(g, 0.0), float(s))
    for k in np.flatnonzero(leak):
        best[k] = max(best[k], group_best.get(int(near[k]), 0.0))
    return leak, np.where(known, np.clip(1.0 - best, 0.0, 1.0), np.nan)

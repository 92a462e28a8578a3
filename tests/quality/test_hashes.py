"""Content and perceptual hashes, colour layouts, groups and duplicate scores."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from cvnb.quality._hashes import (
    adaptive_hash_bits,
    colour_layout,
    connected_groups,
    duplicate_scores,
    exact_groups,
    hamming,
    hash_pairs,
    layout_vectors,
    nearest_hash_distance,
    perceptual_hash,
    sha256_file,
)


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    """Twelve different 160×120 crops of scikit-learn's two sample photos."""
    from sklearn.datasets import load_sample_images

    out = []
    for photo in load_sample_images().images:
        for x, y in ((0, 150), (160, 150), (320, 150), (480, 150), (160, 290), (400, 290)):
            out.append(Image.fromarray(photo[y : y + 120, x : x + 160]))
    return out


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _shift(image: Image.Image, factor: float = 1.0, offset: float = 0.0) -> Image.Image:
    pixels = np.asarray(image, np.float32) * factor + offset
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))


COPIES = {
    "resized": lambda im: im.resize((80, 60), Image.Resampling.BICUBIC),
    "recompressed": lambda im: _jpeg(im, 40),
    "cropped 5%": lambda im: im.crop((4, 3, 160, 120)),
    "brighter +30": lambda im: _shift(im, offset=30),
}


def test_sha256_file(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * (3 << 20))
    assert sha256_file(path) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


@pytest.mark.parametrize("kind", sorted(COPIES))
def test_phash_finds_copies_and_keeps_different_photos_apart(photos, kind):
    hashes = np.array([perceptual_hash(im) for im in photos], dtype=np.uint64)
    copies = np.array([perceptual_hash(COPIES[kind](im)) for im in photos], dtype=np.uint64)
    rows = np.arange(len(photos))
    assert hamming(np.concatenate([hashes, copies]), rows, rows + len(photos)).max() <= 10
    d_nn, _ = nearest_hash_distance(hashes)
    assert d_nn.min() > 14


@pytest.mark.parametrize("kind", ["resized", "recompressed", "brighter +30"])
def test_colour_layout_finds_copies(photos, kind):
    clean = layout_vectors(np.array([np.frombuffer(colour_layout(im), np.uint8) for im in photos]))
    copies = layout_vectors(
        np.array([np.frombuffer(colour_layout(COPIES[kind](im)), np.uint8) for im in photos])
    )
    assert (clean * copies).sum(axis=1).min() > 0.97
    sims = clean @ clean.T
    np.fill_diagonal(sims, -1)
    assert sims.max() < 0.95


def test_colour_layout_ignores_brightness_and_flat_images_are_zero():
    rng = np.random.default_rng(0)
    thumb = rng.integers(40, 200, (1, 192)).astype(np.uint8)
    scaled = np.clip(thumb.astype(float) * 1.2, 0, 255).astype(np.uint8)
    shifted = thumb + 30
    v = layout_vectors(np.concatenate([thumb, scaled, shifted]))
    assert v[0] @ v[1] > 0.999 and v[0] @ v[2] > 0.9999
    assert np.abs(layout_vectors(np.full((1, 192), 90, np.uint8))).max() == 0


def test_hash_pairs_and_nearest_match_brute_force():
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**63, 200, dtype=np.uint64)
    hashes[10] = hashes[20]  # identical
    hashes[30] = hashes[40] ^ np.uint64(0b111)  # 3 bits apart
    i, j = np.triu_indices(len(hashes), 1)
    dist = hamming(hashes, i, j)
    pairs, d = hash_pairs(hashes, 12)
    expected = {(a, b) for a, b, x in zip(i, j, dist, strict=True) if x <= 12}
    assert {tuple(p) for p in pairs} == expected
    assert (d == hamming(hashes, pairs[:, 0], pairs[:, 1])).all()
    d_nn, idx = nearest_hash_distance(hashes)
    full = np.full((200, 200), 99)
    full[i, j] = full[j, i] = dist
    assert (d_nn == full.min(axis=1)).all()
    assert idx[10] == 20 and idx[20] == 10 and d_nn[30] == 3
    assert nearest_hash_distance(hashes[:1])[1].tolist() == [-1]


def test_adaptive_hash_bits():
    rng = np.random.default_rng(2)
    far = rng.integers(0, 2**63, 100, dtype=np.uint64)  # random hashes: ~20 bits apart or more
    assert adaptive_hash_bits(far, 10) == min(
        10, int(np.quantile(nearest_hash_distance(far)[0], 0.25) // 5)
    )
    close = far.copy()
    close[1::2] = close[::2] ^ np.uint64(1)  # every image has a twin 1 bit away
    assert adaptive_hash_bits(close, 10) == 0


def test_groups():
    ids = connected_groups(7, np.array([[0, 2], [2, 5], [3, 4]]))
    assert ids.tolist() == [0, -1, 0, 1, 1, 0, -1]
    assert connected_groups(3, np.empty((0, 2), int)).tolist() == [-1, -1, -1]
    assert exact_groups(["a", "b", "a", None, None, "b", "c"]).tolist() == [0, 1, 0, -1, -1, 1, -1]


def test_duplicate_scores_groups_and_leakage():
    rng = np.random.default_rng(3)
    n = 8
    hashes = rng.integers(0, 2**63, n, dtype=np.uint64)
    hashes[1] = hashes[0] ^ np.uint64(1)  # 0-1: pHash 1 bit apart
    emb = rng.normal(size=(n, 16)).astype(np.float32)
    emb[3] = emb[2] + 0.01 * rng.normal(size=16)  # 2-3: embeddings alike
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    shas = [f"s{k}" for k in range(n)]
    shas[5] = shas[4]  # 4-5: same bytes
    splits = ["train", "train", "train", "valid", "train", "train", "valid", None]
    sims = emb @ emb.T
    np.fill_diagonal(sims, -2)
    neighbours = np.argsort(-sims, axis=1)[:, :3]
    out = duplicate_scores(shas, hashes, splits, similarity=0.96, hash_bits=4,
                           views=[(emb, neighbours, 0.96, np.ones(n, bool))])  # fmt: skip
    assert out["exact_group"].tolist() == [-1, -1, -1, -1, 0, 0, -1, -1]
    groups = out["near_group"]
    assert groups[0] == groups[1] >= 0 and groups[2] == groups[3] >= 0 and groups[4] == groups[5]
    assert (groups[[6, 7]] == -1).all()
    assert len(set(groups[:6])) == 3
    assert out["near_score"][4] == 0 and out["near_score"][0] < 0.04 < out["near_score"][6]
    assert out["leakage"].tolist() == [False, False, True, True, False, False, False, False]
    assert out["leakage_score"][2] < 0.04 and out["leakage_score"][0] > 0.04
    assert np.isnan(out["leakage_score"][7])
    # Evidence from an image marked as without content does not count.
    hidden = duplicate_scores(shas, hashes, splits, similarity=0.96, hash_bits=4,
                              views=[(emb, neighbours, 0.96, np.arange(n) != 3)])  # fmt: skip
    assert hidden["near_group"][3] == -1 and not hidden["leakage"].any()

"""The measuring half of scan_quality: decode each image once, in chunks, through the cache.

Each chunk's files are keyed by (path, size, mtime_ns) → sha256 of the content; features
(statistics, hashes) and embeddings already in the cache are looked up, the rest measured in
a thread pool that overlaps decoding with embedding, and the chunk is written in one
transaction before its pixels are dropped.
"""

from __future__ import annotations

import base64
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from cvnb.data import DEFAULT_MAX_PIXELS

from ._hashes import (
    LAYOUT_SIZE,
    PHASH_VERSION,
    colour_layout,
    perceptual_hash,
    sha256_file,
)
from ._image_stats import STAT_COLUMNS, STATS_VERSION, WORK_SIZE, image_stats, shrink
from ._scan_cache import FileKey, ScanCache

FEATURE_VERSION = f"{STATS_VERSION}+{PHASH_VERSION}"
_ORIENTATION = 0x0112  # EXIF tag
_HASH_SIDE = 32  # pHash works on a 32×32 copy


@dataclass
class Measured:
    """Per-image results of the streaming pass (n = rows of the table)."""

    reasons: list[str]  # "" when readable
    shas: list[str | None]
    stats: np.ndarray  # float64 (n, len(STAT_COLUMNS)); NaN rows for unreadable files
    hashes: np.ndarray  # uint64 (n,)
    layouts: np.ndarray  # uint8 (n, 192): 8×8 RGB thumbnails
    emb: np.ndarray | None  # float32 (n, dim); zero rows for unreadable files
    files_read: int


@dataclass
class _Task:
    row: int
    path: str
    key: FileKey | None  # None: the file cannot be stat'ed (read_image says why)
    sha: str | None  # content hash (None: the file cannot be read)
    features: dict[str, Any] | None  # known from the cache
    embed: bool  # an embedding is needed
    vector: np.ndarray | None = None  # known from the cache


def measure_all(
    df: pd.DataFrame,
    embedder: Any,
    store: ScanCache,
    chunk_size: int,
    progress: bool,
    workers: int | None,
) -> Measured:
    from tqdm.auto import tqdm

    n = len(df)
    paths = [os.path.abspath(os.fspath(p)) for p in df["path"]]
    errors = df["error"].tolist() if "error" in df.columns else [None] * n
    out = Measured(
        reasons=[""] * n,
        shas=[None] * n,
        stats=np.full((n, len(STAT_COLUMNS)), np.nan),
        hashes=np.zeros(n, dtype=np.uint64),
        layouts=np.zeros((n, LAYOUT_SIZE * LAYOUT_SIZE * 3), dtype=np.uint8),
        emb=None if embedder is None else np.zeros((n, int(embedder.dim)), dtype=np.float32),
        files_read=0,
    )
    size = getattr(embedder, "size", None)
    workers = workers or min(4, os.cpu_count() or 1)
    bar = tqdm(total=n, desc="Scanning images", unit="img", disable=not progress)
    pending = None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # One chunk ahead: the workers decode chunk k + 1 while chunk k is embedded (the
        # embedder releases the GIL), so at most two chunks of pixels are held.
        for start in [*range(0, n, chunk_size), n]:
            ahead = None
            if start < n:
                rows = range(start, min(n, start + chunk_size))
                chunk = _plan_chunk(rows, paths, errors, store, embedder, out, pool)
                ahead = (chunk, [pool.submit(_measure, t, size) for t in chunk.tasks], len(rows))
            if pending is not None:
                done, futures, count = pending
                _finish_chunk(done, [f.result() for f in futures], embedder, store, out)
                bar.update(count)
            pending = ahead
    bar.close()
    return out


@dataclass
class _Chunk:
    tasks: list[_Task]  # files to decode
    new_files: list[tuple[FileKey, str]]  # identities hashed in this chunk, for the cache
    read: set[int]  # rows whose file was read


def _plan_chunk(rows, paths, errors, store: ScanCache, embedder, out: Measured, pool) -> _Chunk:
    """Fill in what the cache knows for ``rows``; return the files that must be decoded.

    Files whose identity (path, size, mtime) is new are hashed first, so a renamed or
    copied file whose content was seen before is read once for its hash but not decoded.
    """
    keys: dict[int, FileKey | None] = {}
    for i in rows:
        if isinstance(errors[i], str) and errors[i]:  # load_images already found it broken
            out.reasons[i] = errors[i]
        else:
            keys[i] = _file_key(paths[i])
    known = store.lookup_files(k for k in keys.values() if k is not None)
    sha_of = {i: known.get(k[0]) if k is not None else None for i, k in keys.items()}
    unknown = [i for i, k in keys.items() if k is not None and sha_of[i] is None]
    new_files, read = [], set()
    for i, sha in zip(unknown, pool.map(_content_hash, [paths[i] for i in unknown]), strict=True):
        if sha is not None:
            sha_of[i] = sha
            new_files.append((keys[i], sha))
            read.add(i)
    found = {s for s in sha_of.values() if s is not None}
    features = store.lookup_features(found, FEATURE_VERSION)
    vectors = {}
    if embedder is not None:
        decodable = {s for s, f in features.items() if f.get("error") is None}
        vectors = store.lookup_embeddings(decodable, embedder.key)
    tasks = []
    for i, k in keys.items():
        sha = sha_of[i]
        feats = features.get(sha) if sha is not None else None
        need = embedder is not None and (feats is None or feats.get("error") is None)
        need = need and (sha is None or sha not in vectors)
        if sha is not None and feats is not None and not need:
            _store_row(out, i, sha, feats, vectors.get(sha))
        else:
            tasks.append(_Task(i, paths[i], k, sha, feats, need, vectors.get(sha)))
            if k is not None:
                read.add(i)
    return _Chunk(tasks, new_files, read)


def _content_hash(path: str) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None  # read_image gives the reason later


@dataclass
class _Result:
    features: dict[str, Any]
    image: Image.Image | None  # a small copy to embed


def _measure(task: _Task, embed_size: int | None) -> _Result:
    """Decode one file (in a worker thread): statistics, hashes, a copy to embed."""
    from cvnb.data import ImageReadError, read_image

    features, image = task.features, None
    reduced = _read_reduced(task.path, embed_size)
    if reduced is not None:
        decoded, size = reduced
    else:
        try:
            decoded = read_image(task.path)
        except ImageReadError as err:
            return _Result(features or {"error": err.reason}, None)
        size = decoded.size
    if features is None:
        stats = image_stats(decoded, size)
        features = {
            "error": None,
            "stats": [stats[c] for c in STAT_COLUMNS],
            "phash": perceptual_hash(decoded),
            "layout": base64.b64encode(colour_layout(decoded)).decode("ascii"),
        }
    if task.embed:
        image = _embed_copy(decoded, embed_size)
    return _Result(features, image)


def _read_reduced(path: str, embed_size: int | None) -> tuple[Image.Image, tuple[int, int]] | None:
    """A JPEG decoded at 1/2, 1/4 or 1/8 of its size (Pillow's ``draft``: the DCT scaled
    before the inverse transform, several times faster than a full decode), still at least
    :data:`WORK_SIZE` on its longer side and the embedder's size on its shorter one, so
    every measurement sees as many pixels as it uses; with the image's own (oriented)
    size. None when no reduction applies or anything goes wrong: the caller then decodes
    with :func:`cvnb.data.read_image`, which gives the canonical error for a broken file.
    """
    from cvnb.data import read_image

    try:
        with Image.open(path) as im:
            if im.format != "JPEG":
                return None
            w, h = im.size
            if w * h > DEFAULT_MAX_PIXELS:
                return None
            scale = min(max(w, h) / WORK_SIZE, min(w, h) / max(embed_size or 0, _HASH_SIDE))
            if scale < 2:
                return None
            turned = im.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
            im.draft("RGB", (math.ceil(w / scale), math.ceil(h / scale)))
            im.load()
            return read_image(im), ((h, w) if turned else (w, h))
    except Exception:  # PIL raises many types; read_image says what is wrong
        return None


def _embed_copy(image: Image.Image, size: int | None) -> Image.Image:
    """Shrink (aspect kept) so the shorter side is at most twice the embedder's input size:
    the embedder resizes to ``size`` anyway, and a chunk of full-size photos must not pile
    up in memory while it waits for its batch."""
    return shrink(image, 2 * (size or 256), side="shorter")


def _finish_chunk(
    chunk: _Chunk, results: list[_Result], embedder, store: ScanCache, out: Measured
) -> None:
    """Embed the chunk's images, write the chunk to the cache in one go, fill the arrays."""
    todo = [k for k, r in enumerate(results) if r.image is not None]
    vectors: dict[int, np.ndarray] = {}
    if todo:
        # Rounded through float16 here as in the cache, so a re-scan from the cache gives
        # bit-identical results to a fresh one.
        emb = np.asarray(embedder([results[k].image for k in todo]), dtype=np.float32)
        emb = emb.astype(np.float16).astype(np.float32)
        vectors = dict(zip(todo, emb, strict=True))
    features, embeddings = [], []
    for k, (task, res) in enumerate(zip(chunk.tasks, results, strict=True)):
        res.image = None  # drop the pixels
        sha = task.sha
        if sha is not None:
            if task.features is None:
                features.append((sha, FEATURE_VERSION, res.features))
            if k in vectors:
                embeddings.append((sha, embedder.key, vectors[k]))
        _store_row(out, task.row, sha, res.features, vectors.get(k, task.vector))
    store.write(files=chunk.new_files, features=features, embeddings=embeddings)
    out.files_read += len(chunk.read)


def _store_row(out: Measured, i: int, sha, features: dict[str, Any], vector) -> None:
    out.shas[i] = sha
    if features.get("error") is not None:
        out.reasons[i] = str(features["error"])
        return
    out.stats[i] = features["stats"]
    out.hashes[i] = np.uint64(int(features["phash"]))
    out.layouts[i] = np.frombuffer(base64.b64decode(features["layout"]), dtype=np.uint8)
    if out.emb is not None and vector is not None:
        out.emb[i] = vector


def _file_key(path: str) -> FileKey | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return (path, int(st.st_size), int(st.st_mtime_ns))

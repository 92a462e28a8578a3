"""scan_quality: stream a dataset's images once, measure them, and score every issue.

Pure logic, no widget imports. Images are read in chunks: each chunk is decoded, measured
(statistics, hashes, embeddings), written to the on-disk cache in one transaction, and its
pixels dropped, so memory holds only per-image numbers and the ``(n, dim)`` embedding
matrix, however large the folder.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd

from ._embed import make_embedder
from ._embed_choice import embedding_for
from ._fastdup import scan_fastdup
from ._hashes import (
    adaptive_cosine,
    adaptive_hash_bits,
    duplicate_scores,
    layout_vectors,
)
from ._image_stats import STAT_COLUMNS, class_imbalance, stat_scores
from ._measure import FEATURE_VERSION, Measured, measure_all
from ._neighbors import nearest_neighbors
from ._report import ISSUES, QualityReport, issue_summary
from ._scan_cache import open_cache
from ._semantic import label_issue_scores, outlier_scores
from ._thresholds import DEFAULT_THRESHOLDS, resolve_thresholds

__all__ = ["DEFAULT_THRESHOLDS", "ENGINES", "resolve_thresholds", "scan_quality"]

ENGINES = ("builtin", "fastdup")
_NEIGHBOURS = 10  # embedding neighbours examined per image for near-duplicate pairs
_OUTLIER_K = 5
_HEAD_NEAR_WIDER = 2.5  # head features: near-duplicate cosine cut-off 1 - 2.5 · threshold


def scan_quality(
    df: pd.DataFrame,
    *,
    engine: str = "builtin",
    thresholds: dict[str, float] | None = None,
    embedder: Any = None,
    cache: bool | str | os.PathLike[str] = True,
    chunk_size: int = 256,
    seed: int = 0,
    progress: bool = True,
    workers: int | None = None,
    **engine_kwargs: Any,
) -> QualityReport:
    """Scan a dataset table for defects; one report row per image, a score per issue.

    Every score is in [0, 1], lower is worse, and an image is flagged (``is_<issue>``)
    when its score is below ``thresholds[issue]`` (defaults in :data:`DEFAULT_THRESHOLDS`,
    in brackets below), except for the group issues, flagged by membership. Scores are NaN
    where they cannot be computed (every score but ``unreadable`` for an unreadable file).

    - ``unreadable`` [0.5]: 0 when :func:`cvnb.data.read_image` cannot decode the file,
      with its reason in ``unreadable_reason``; rows whose ``error`` column (from
      :func:`cvnb.data.load_images`) is set count as unreadable without reading again.
    - ``exact_duplicate`` [0.5]: 0 for every member of a set of files with identical bytes
      (sha256), grouped in ``exact_group``.
    - ``near_duplicate`` [0.04]: ``1 - s`` for the image's most similar other image. A
      pair's ``s`` is 1 for identical bytes, else the largest of three pieces of evidence,
      each mapped so its own cut-off lands on ``1 - threshold`` (0.96): the embedding
      cosine (cut-off 0.96, 0.90 for the photo features; finds crops), the colour-layout cosine (an 8×8 YCbCr thumbnail
      that ignores brightness; cut-off ``near_duplicate_layout`` [0.98]; finds resized,
      re-compressed and brightened copies) and the pHash distance (cut-off
      ``near_duplicate_hash_bits`` [10], lowered for sets of look-alike images, see
      :func:`~cvnb.quality._hashes.adaptive_hash_bits`). Pairs above the cut-off join
      images into ``near_group`` (connected components, exact duplicates included) and
      every member is flagged; the score ranks the closest pairs first. Near-constant
      images (flagged ``low_information``) are near duplicates of identical bytes only, and
      dark or overexposed ones are not compared by embedding (it sees them all as alike).
    - ``leakage`` [same as near_duplicate]: flagged when the image's near group holds images
      of two or more splits; the score is ``1 - s`` of the closest cross-split pair.
    - ``dark`` [0.2]: the 99th percentile of luma (0-1): flagged when even the brightest
      1 % of pixels are below 20 % grey.
    - ``bright`` [0.2]: washed out or overexposed: ``1 -`` the 5th percentile of luma
      (flagged when 95 % of the pixels are above 80 % grey), or ``1 - 0.8 · min(clipped /
      0.5, median luma / 0.7)`` (flagged when half the pixels have a blown channel and
      the median is above 70 % grey), whichever is lower.
    - ``blurry`` [0.4]: edge sharpness (99th-percentile gradient over the intensity range,
      about 1 / edge width in px, measured with the image shrunk to at most 256 px) relative
      to the set: ``0.5 ** (d / 3)`` with ``d`` the robust deviations below the set's median
      log sharpness, capped by an absolute ``sharpness / 0.1`` and, in a set that is sharp
      at its own resolution, by how much sharper the image gets when halved (a blurred one
      nearly twice): flagged about 4 deviations softer than typical, when the sharpest
      edges span 25 px, or when halving sharpens 1.7× or more. An image enlarged from a
      small one is soft at its own resolution and counts as blurry. NaN without edges
      (intensity range under 5 %) or under 16 px.
    - ``low_information`` [0.3]: entropy of the R, G or B histogram (the richest) / 8
      bits: flagged under 2.4 bits, a near-constant image.
    - ``odd_size`` [0.55] / ``odd_aspect`` [0.55]: ``0.5 ** (d / 3)`` with ``d`` the robust
      deviations of log(pixel count) / log(width / height) from the set's median (median
      absolute deviation, floored so a set of one size still tolerates small changes):
      flagged about 2.6 deviations away.
    - ``grayscale`` [0.05]: ``min(1, 10 · mean chroma)``, flagged for grey pixels; only
      when the set is mainly colour (at least ``grayscale_colour_share`` [0.5] of the
      images), else NaN for all.
    - ``outlier`` [0.5]: the mean cosine to the 5 nearest embeddings as a robust z-score
      against the set, mapped so 0.5 means three deviations more isolated
      (:func:`cvnb.quality._semantic.outlier_scores`).
    - ``label_issue`` [0.2]: out-of-fold predictions of a linear probe on the embeddings
      (5 folds, seeded; :func:`cvnb.quality._semantic.label_issue_scores`): the probability
      of the given label relative to its class's typical one. Flagged below the threshold
      when the probe predicts another label, which becomes ``suggested_label``;
      ``label_confidence`` is the raw probability of the given label. NaN for rows without
      a label, or all when there are fewer than two classes; a class of one image is still
      scored (it is often a typo).
    - ``class_imbalance`` (``report.dataset_issues``) [0.2]: smallest class count /
      largest.

    Files are never written; the only file written is the cache (see below).

    Args:
        df: A dataset table with a ``path`` column (``label``, ``split`` and ``error``
            used when present), such as :func:`cvnb.data.load_images` returns. Its index
            must be unique; the report keeps it.
        engine: ``"builtin"`` or ``"fastdup"`` (needs ``pip install cvnb[fastdup]``;
            ``engine_kwargs`` go to it). The fastdup engine honours ``seed`` and
            ``workers`` (as its ``threads``) and rejects ``embedder``, ``cache`` and
            ``chunk_size`` other than their defaults (fastdup has its own model, no cache
            and no chunks).
        thresholds: Overrides of :data:`DEFAULT_THRESHOLDS` (``leakage`` follows
            ``near_duplicate``).
        embedder: An :class:`~cvnb.quality._embed.Embedder` (default: offline
            EfficientNet-Lite0 made for the data, ``make_embedder(**embedding_for(df))``:
            pooled head features at up to 224 px for photos, multi-stage features at 96 px
            for small images; see :func:`~cvnb.quality._embed_choice.embedding_for`), or
            False to skip embeddings (near duplicates from hashes only; ``outlier`` and
            ``label_issue`` NaN).
        cache: True for the default cache file (``cvnb.datasets.cache_dir()/quality``), a
            path for another, False for none. Unchanged files (same path, size, mtime) are
            not read again; content seen before is not decoded again.
        chunk_size: Images decoded and held at once.
        seed: Seeds the label probe's folds.
        progress: Show a progress bar.
        workers: Threads that read and measure files, and the default embedder's
            onnxruntime threads (default: the CPU count, at most 4).

    Returns:
        A :class:`~cvnb.quality._report.QualityReport`. ``report.settings`` records the
        embedder, cache hits and misses, ``files_read`` and timings.

    Raises:
        ValueError: For an unknown engine or threshold, a table without ``path``, or a
            repeated index label.

    Example:
        >>> report = scan_quality(load_images("data/pets"))  # doctest: +SKIP
        >>> report.flagged("near_duplicate")[["path", "near_group"]]  # doctest: +SKIP
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}.")
    if engine == "fastdup":
        _check_fastdup_arguments(embedder, cache, chunk_size, workers, engine_kwargs)
        if workers is not None:
            engine_kwargs["threads"] = workers
        return scan_fastdup(
            df, thresholds=thresholds, progress=progress, seed=seed, **engine_kwargs
        )
    if engine_kwargs:
        raise TypeError(f"scan_quality got unexpected arguments {sorted(engine_kwargs)}.")
    _check_table(df)
    th = resolve_thresholds(thresholds)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}.")
    choice = None
    if embedder is None:
        choice = embedding_for(df, seed=seed)
        embedder = make_embedder(**choice, threads=workers)
    embedder = embedder or None
    started = time.perf_counter()
    with open_cache(cache) as store:
        measured = measure_all(df, embedder, store, chunk_size, progress, workers)
        cache_info = store.summary()
    scan_s = time.perf_counter() - started
    table, dataset_issues, info = _score(df, measured, th, embedder, seed)
    total_s = time.perf_counter() - started
    settings = {
        "n_images": len(df),
        "n_readable": int((table["unreadable_reason"] == "").sum()),
        "chunk_size": chunk_size,
        "seed": seed,
        "embedder": None if embedder is None else embedder.key,
        "embedding_choice": choice,
        "embedding_dim": None if embedder is None else int(embedder.dim),
        "feature_version": FEATURE_VERSION,
        "cache": cache_info,
        "files_read": measured.files_read,
        "seconds_reading": round(scan_s, 3),
        "seconds_total": round(total_s, 3),
        "images_per_s": round(len(df) / total_s, 2) if total_s > 0 else None,
        **info,
    }
    return QualityReport(
        table=table,
        summary=issue_summary(table, th),
        dataset_issues=dataset_issues,
        thresholds=th,
        engine="builtin",
        settings=settings,
    )


def _check_fastdup_arguments(
    embedder: Any, cache: Any, chunk_size: int, workers: int | None, kwargs: dict[str, Any]
) -> None:
    """Refuse built-in-only arguments with the fastdup engine (it would ignore them)."""
    ignored = [
        name
        for name, given in (
            ("embedder", embedder is not None),
            ("cache", cache is not True),
            ("chunk_size", chunk_size != 256),
        )
        if given
    ]
    if ignored:
        raise ValueError(
            f"engine='fastdup' cannot use {', '.join(ignored)}: fastdup computes its own "
            "embeddings in one pass without cvnb's cache. Leave them out, or use "
            "engine='builtin'."
        )
    if workers is not None and "threads" in kwargs:
        raise ValueError("Give workers or threads with engine='fastdup', not both.")


def _check_table(df: pd.DataFrame) -> None:
    if not isinstance(df, pd.DataFrame) or "path" not in df.columns:
        raise ValueError(
            "scan_quality needs a table with a 'path' column, such as "
            "cvnb.data.load_images(folder) returns."
        )
    if not df.index.is_unique:
        raise ValueError("The table's index has repeated labels; reset_index(drop=True) it.")


def _score(
    df: pd.DataFrame, m: Measured, th: dict[str, float], embedder: Any, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The report table (and dataset-level issues) from the measurements."""
    n = len(df)
    ok = np.array([r == "" for r in m.reasons], dtype=bool)
    rows = np.flatnonzero(ok)
    labels = df["label"].tolist() if "label" in df.columns else [None] * n
    splits = df["split"].tolist() if "split" in df.columns else [None] * n
    scores = {f"{issue}_score": np.full(n, np.nan) for issue in ISSUES}
    flags = {issue: np.zeros(n, dtype=bool) for issue in ISSUES}
    scores["unreadable_score"] = ok.astype(float)
    flags["unreadable"] = ~ok
    extra = {
        "exact_group": np.full(n, -1, dtype=np.int64),
        "near_group": np.full(n, -1, dtype=np.int64),
        "nearest_index": np.full(n, None, dtype=object),
        "nearest_similarity": np.full(n, np.nan),
        "suggested_label": np.full(n, None, dtype=object),
        "label_confidence": np.full(n, np.nan),
    }
    stats = pd.DataFrame(m.stats[rows], columns=list(STAT_COLUMNS))
    stat_part, info = stat_scores(stats, th)
    for col in stat_part.columns:
        scores[col][rows] = stat_part[col].to_numpy()
        issue = col.removesuffix("_score")
        flags[issue][rows] = stat_part[col].to_numpy() < th[issue]

    emb = m.emb[rows] if m.emb is not None else None
    # A near-constant image has nothing to compare: any two look alike by every measure, so
    # it is a duplicate only of identical bytes. Dark and overexposed images keep their
    # pHash and colour layout (both ignore brightness) but not the embedding, which sees
    # them all as alike.
    content = ~flags["low_information"][rows]
    faint = flags["dark"][rows] | flags["bright"][rows]
    views = []
    if len(rows) >= 2:
        layouts = layout_vectors(m.layouts[rows])
        sims, idx = nearest_neighbors(layouts, _NEIGHBOURS)
        cut = adaptive_cosine(sims[content, 0], th["near_duplicate_layout"])
        views.append((layouts, idx, cut, content))
        info["near_duplicate_layout_used"] = round(cut, 4)
    if emb is not None and len(rows) >= 2:
        sims, idx = nearest_neighbors(emb, _NEIGHBOURS)
        # The pooled head spreads copies wider than the multi-stage features: on the
        # flowers at 224 px, copies cropped by 5-10 % kept cosine 0.93-0.98 to their source
        # and distinct photos at most 0.87, so its cut-off sits 2.5x further from 1.
        photo = getattr(embedder, "features", "stages") == "head"
        widen = _HEAD_NEAR_WIDER if photo else 1.0
        cut = adaptive_cosine(sims[content & ~faint, 0], 1.0 - widen * th["near_duplicate"])
        views.append((emb, idx, cut, content & ~faint))
        info["near_duplicate_embedding_used"] = round(cut, 4)
        found = idx[:, 0] >= 0
        extra["nearest_index"][rows[found]] = list(df.index[rows[idx[found, 0]]])
        extra["nearest_similarity"][rows] = sims[:, 0]
        if len(rows) >= 3:
            scores["outlier_score"][rows] = outlier_scores(emb, k=_OUTLIER_K)
            flags["outlier"][rows] = scores["outlier_score"][rows] < th["outlier"]
        # Photo features (the pooled head) rank label errors better without the whitened
        # PCA that suits the multi-stage features (see label_issue_scores).
        score, prob, predicted = label_issue_scores(
            emb, [labels[r] for r in rows], seed=seed, max_dim=None if photo else 128
        )
        scores["label_issue_score"][rows] = score
        differs = [p is not None and p != labels[r] for p, r in zip(predicted, rows, strict=True)]
        low = np.nan_to_num(score, nan=1.0) < th["label_issue"]
        flags["label_issue"][rows] = low & np.array(differs, dtype=bool)
        extra["label_confidence"][rows] = prob
        extra["suggested_label"][rows[np.array(differs, dtype=bool)]] = [
            p for p, d in zip(predicted, differs, strict=True) if d
        ]

    hash_bits = adaptive_hash_bits(m.hashes[rows], int(th["near_duplicate_hash_bits"]))
    info["near_duplicate_hash_bits_used"] = hash_bits
    dup = duplicate_scores(
        [m.shas[r] for r in rows],
        m.hashes[rows],
        [splits[r] for r in rows],
        similarity=1.0 - th["near_duplicate"],
        hash_bits=hash_bits,
        views=views,
        hash_ok=content,
    )
    extra["exact_group"][rows] = dup["exact_group"]
    extra["near_group"][rows] = dup["near_group"]
    scores["exact_duplicate_score"][rows] = np.where(dup["exact_group"] >= 0, 0.0, 1.0)
    flags["exact_duplicate"][rows] = dup["exact_group"] >= 0
    scores["near_duplicate_score"][rows] = dup["near_score"]
    flags["near_duplicate"][rows] = dup["near_group"] >= 0
    scores["leakage_score"][rows] = dup["leakage_score"]
    flags["leakage"][rows] = dup["leakage"]

    table = pd.DataFrame(index=df.index)
    table["path"] = df["path"].to_numpy(dtype=object)
    table["label"] = pd.Series(labels, index=df.index, dtype=object)
    table["split"] = pd.Series(splits, index=df.index, dtype=object)
    for col, j in (("width", 0), ("height", 1)):
        given = df[col].to_numpy(dtype=float, na_value=np.nan) if col in df else np.full(n, np.nan)
        size = np.where(ok, m.stats[:, j], given)  # NaN → <NA> below
        table[col] = pd.array(size, dtype="Float64").astype("Int64")
    for issue in ISSUES:
        table[f"{issue}_score"] = scores[f"{issue}_score"]
        table[f"is_{issue}"] = flags[issue]
    table["unreadable_reason"] = pd.Series(m.reasons, index=df.index, dtype=object)
    for col, values in extra.items():
        table[col] = values
    dataset = class_imbalance(pd.Series(labels, dtype=object), th["class_imbalance"])
    return table, dataset, info

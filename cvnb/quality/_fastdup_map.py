"""fastdup's output files → the quality report table (the mapping of :func:`scan_fastdup`).

:func:`read_outputs` reads what fastdup writes into its work folder (any fastdup 2.x run
with ``store_int=1`` and ``run_advanced_stats=1``); :func:`build_table` turns it into the
rows of :class:`~cvnb.quality._report.QualityReport`, filling with cvnb's own rules the
issues fastdup has no equivalent for. Needs neither fastdup nor its numpy/Pillow pins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._hashes import connected_groups, exact_groups, sha256_file
from ._image_stats import class_imbalance, robust_deviation
from ._report import ISSUES

__all__ = ["FastdupOutputs", "build_table", "read_outputs"]

_BLUR_HALF = 150.0  # fastdup's default blur threshold (FastdupController.summary)
_REASONS = {
    "ERROR_ZERO_SIZE_FILE": "empty file",
    "ERROR_CORRUPT_IMAGE": "corrupt or truncated image",
    "ERROR_MISSING_FILE": "file not found",
    "ERROR_IMAGE_TOO_SMALL": "image too small",
}


@dataclass
class FastdupOutputs:
    """fastdup's results, by position in the list of files it was given."""

    ok: np.ndarray  # bool (m,): decoded and embedded
    reason: list[str]  # "" where ok
    emb: np.ndarray  # float32 (m, d); zero rows where not ok
    stats: pd.DataFrame  # index = position; fastdup's columns
    sim: pd.DataFrame  # from, to, distance (cosine): every image's k neighbours
    outliers: set[int]  # positions fastdup lists as outliers


def read_outputs(wd: Path, m: int) -> FastdupOutputs:
    """Read fastdup's work folder ``wd`` after a run on a list of ``m`` files.

    The embeddings are fastdup's raw little-endian float32 rows (``atrain_features.dat``,
    in the order of ``atrain_features.dat.csv``), so no fastdup import is needed.
    """
    dat = wd / "atrain_features.dat.csv"
    listed = pd.read_csv(dat) if dat.is_file() else pd.DataFrame({"index": []})
    pos = listed["index"].to_numpy(dtype=np.int64)
    raw = np.fromfile(wd / "atrain_features.dat", dtype="<f4") if len(pos) else np.zeros(0)
    d = raw.size // max(len(pos), 1)
    emb = np.zeros((m, max(d, 1)), dtype=np.float32)
    if len(pos):
        emb[pos] = raw.reshape(len(pos), d)
    ok = np.zeros(m, dtype=bool)
    ok[pos] = True
    reason = [""] * m
    bad = wd / "atrain_features.bad.csv"
    if bad.is_file():
        for i, code in pd.read_csv(bad)[["index", "error_code"]].itertuples(index=False):
            ok[int(i)] = False
            reason[int(i)] = f"{_REASONS.get(str(code), str(code))} (fastdup: {code})"
    for i in np.flatnonzero(~ok):
        reason[i] = reason[i] or "not read by fastdup (an unsupported format?)"
    stats = _read_optional(wd / "atrain_stats.csv", ["index"]).set_index("index")
    sim = _read_optional(wd / "similarity.csv", ["from", "to", "distance"])
    out = _read_optional(wd / "outliers.csv", ["from", "to", "distance"])
    return FastdupOutputs(ok, reason, emb, stats, sim, set(out["from"].astype(int)))


def _read_optional(path: Path, columns: list[str]) -> pd.DataFrame:
    """The CSV (all columns), or an empty frame with ``columns`` when fastdup wrote none."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    return pd.read_csv(path)


def build_table(
    df: pd.DataFrame,
    paths: list[str],
    unique: list[str],
    out: FastdupOutputs,
    th: dict[str, float],
    *,
    seed: int,
    threads: int | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report table and dataset-level issues from fastdup's outputs.

    Args:
        df: The scanned table.
        paths: Absolute path of each row of ``df``.
        unique: The distinct paths, in the order fastdup was given them (its positions).
        out: What :func:`read_outputs` read.
        th: Resolved thresholds (see :func:`cvnb.quality._fastdup.scan_fastdup`).
        seed: Seeds the label probe.
        threads: Threads for the label probe.
    """
    n = len(df)
    where = {p: i for i, p in enumerate(unique)}
    fid = np.array([where[p] for p in paths], dtype=np.int64)  # row -> fastdup position
    first_row = np.full(len(unique), -1, dtype=np.int64)  # fastdup position -> a row
    first_row[fid[::-1]] = np.arange(n)[::-1]
    ok = out.ok[fid]
    rows = np.flatnonzero(ok)
    labels = df["label"].tolist() if "label" in df.columns else [None] * n
    splits = df["split"].tolist() if "split" in df.columns else [None] * n
    scores = {issue: np.full(n, np.nan) for issue in ISSUES}
    flags = {issue: np.zeros(n, dtype=bool) for issue in ISSUES}
    scores["unreadable"] = ok.astype(float)
    flags["unreadable"] = ~ok

    st = out.stats.reindex(fid[rows])
    if len(rows):
        _stat_scores(st, rows, scores, th)
    for issue in ("dark", "bright", "blurry", "low_information", "odd_size", "odd_aspect"):
        flags[issue][rows] = scores[issue][rows] < th[issue]
    flags["grayscale"] = np.nan_to_num(scores["grayscale"], nan=1.0) < th["grayscale"]

    extra: dict[str, Any] = {
        "exact_group": np.full(n, -1, dtype=np.int64),
        "near_group": np.full(n, -1, dtype=np.int64),
        "nearest_index": np.full(n, None, dtype=object),
        "nearest_similarity": np.full(n, np.nan),
        "suggested_label": np.full(n, None, dtype=object),
        "label_confidence": np.full(n, np.nan),
    }
    # Pairs between rows: fastdup's neighbours (positions -> first row with that file).
    sim = out.sim[out.sim["from"].isin(fid[rows]) & out.sim["to"].isin(fid[rows])]
    a = first_row[sim["from"].to_numpy(np.int64)]
    b = first_row[sim["to"].to_numpy(np.int64)]
    s = sim["distance"].to_numpy(np.float64)
    _duplicates(df, paths, rows, (a, b, s), splits, th, scores, flags, extra)
    _outliers(out, fid, rows, (a, s), scores, flags)
    _labels(out.emb[fid[rows]], rows, labels, seed, threads, th, scores, flags, extra)

    table = pd.DataFrame(index=df.index)
    table["path"] = df["path"].to_numpy(dtype=object)
    table["label"] = pd.Series(labels, index=df.index, dtype=object)
    table["split"] = pd.Series(splits, index=df.index, dtype=object)
    for col in ("width", "height"):
        given = df[col].to_numpy(dtype=float, na_value=np.nan) if col in df else np.full(n, np.nan)
        measured = np.full(n, np.nan)
        if len(rows):
            measured[rows] = st[col].to_numpy(dtype=float)
        size = np.where(ok & np.isfinite(measured), measured, given)
        table[col] = pd.array(np.where(np.isfinite(size), size, np.nan), dtype="Float64").astype(
            "Int64"
        )
    for issue in ISSUES:
        table[f"{issue}_score"] = scores[issue]
        table[f"is_{issue}"] = flags[issue]
    table["unreadable_reason"] = pd.Series(
        [out.reason[i] for i in fid], index=df.index, dtype=object
    )
    for col, values in extra.items():
        table[col] = values
    dataset = class_imbalance(pd.Series(labels, dtype=object), th["class_imbalance"])
    return table, dataset


def _stat_scores(
    st: pd.DataFrame, rows: np.ndarray, scores: dict[str, np.ndarray], th: dict[str, float]
) -> None:
    """Scores from fastdup's per-image statistics (``st`` aligned with ``rows``)."""
    mean = st["mean"].to_numpy(dtype=float) / 255.0
    scores["dark"][rows] = np.clip(mean, 0, 1)
    scores["bright"][rows] = np.clip(1.0 - mean, 0, 1)
    blur = np.maximum(st["blur"].to_numpy(dtype=float), 0.0)
    scores["blurry"][rows] = blur / (blur + _BLUR_HALF)
    # Entropy (bits) estimated two ways, the smaller kept: at most log2 of the number of
    # distinct grey levels; about log2(sigma * sqrt(2 pi e)) for a spread of sigma levels.
    with np.errstate(divide="ignore"):
        levels = np.log2(np.maximum(st["unique"].to_numpy(dtype=float), 1.0))
        spread = np.log2(st["stdv"].to_numpy(dtype=float) * np.sqrt(2 * np.pi * np.e))
    scores["low_information"][rows] = np.clip(np.minimum(levels, spread) / 8.0, 0, 1)
    w, h = st["width"].to_numpy(dtype=float), st["height"].to_numpy(dtype=float)
    # The built-in engine's curves (cvnb.quality._image_stats.stat_scores): halve every 3
    # robust deviations of log(pixels) / log(aspect) from the set's median.
    for issue, x, floor in (("odd_size", np.log(w * h), 0.25), ("odd_aspect", np.log(w / h), 0.1)):
        scores[issue][rows] = np.power(0.5, np.maximum(np.abs(robust_deviation(x, floor)), 0) / 3)
    if "mean_saturation" in st:
        grey = np.clip(10.0 * st["mean_saturation"].to_numpy(dtype=float) / 255.0, 0, 1)
        share = float((grey >= th["grayscale"]).mean()) if len(grey) else 0.0
        if share >= th["grayscale_colour_share"]:
            scores["grayscale"][rows] = grey


def _duplicates(
    df: pd.DataFrame,
    paths: list[str],
    rows: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    splits: list,
    th: dict[str, float],
    scores: dict[str, np.ndarray],
    flags: dict[str, np.ndarray],
    extra: dict[str, Any],
) -> None:
    """Exact groups (sha256), near groups (fastdup pairs + exact), nearest, leakage."""
    n = len(df)
    a, b, s = pairs
    shas: list[str | None] = [None] * n
    for r in rows:
        try:
            shas[r] = sha256_file(paths[r])
        except OSError:
            shas[r] = None
    exact = exact_groups(shas)
    ex_rows = np.flatnonzero(exact >= 0)
    firsts: dict[int, int] = {}
    for r in ex_rows:
        firsts.setdefault(int(exact[r]), int(r))
    ea = np.array([firsts[int(exact[r])] for r in ex_rows], dtype=np.int64)
    keep = ea != ex_rows
    a = np.concatenate([a, ea[keep]])
    b = np.concatenate([b, ex_rows[keep]])
    s = np.concatenate([s, np.ones(int(keep.sum()))])
    same = (exact[a] >= 0) & (exact[a] == exact[b])
    s = np.where(same, 1.0, np.clip(s, -1.0, 1.0))
    edge = s >= 1.0 - th["near_duplicate"]
    near = connected_groups(n, np.stack([a[edge], b[edge]], axis=1))
    extra["exact_group"] = exact
    extra["near_group"] = near

    # Each row's most similar other row, over both directions of every pair.
    x, y, v = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([s, s])
    x, y, v = x[x != y], y[x != y], v[x != y]
    order = np.lexsort((-v, x))
    x, y, v = x[order], y[order], v[order]
    _, top = np.unique(x, return_index=True)
    best = np.zeros(n)
    best[x[top]] = v[top]
    extra["nearest_index"][x[top]] = list(df.index[y[top]])
    extra["nearest_similarity"][x[top]] = v[top]
    scores["near_duplicate"][rows] = np.clip(1.0 - best[rows], 0, 1)
    flags["near_duplicate"] = near >= 0
    scores["exact_duplicate"][rows] = np.where(exact[rows] >= 0, 0.0, 1.0)
    flags["exact_duplicate"] = exact >= 0

    split = np.array([None if v is None or v != v else str(v) for v in splits], dtype=object)
    known = np.array([v is not None for v in split])
    spans: dict[int, set] = {}
    for r in np.flatnonzero((near >= 0) & known):
        spans.setdefault(int(near[r]), set()).add(split[r])
    leak = np.array([g >= 0 and len(spans.get(int(g), ())) >= 2 for g in near], dtype=bool)
    cross = known[a] & known[b] & (split[a] != split[b])
    cross_best = np.zeros(n)
    np.maximum.at(cross_best, a[cross], s[cross])
    np.maximum.at(cross_best, b[cross], s[cross])
    group_best: dict[int, float] = {}
    for x, v in zip(a[cross & edge], s[cross & edge], strict=True):
        group_best[int(near[x])] = max(group_best.get(int(near[x]), 0.0), float(v))
    for r in np.flatnonzero(leak):
        cross_best[r] = max(cross_best[r], group_best.get(int(near[r]), 0.0))
    leak_score = np.where(known, np.clip(1.0 - cross_best, 0.0, 1.0), np.nan)
    scores["leakage"][rows] = leak_score[rows]
    flags["leakage"] = leak


def _outliers(
    out: FastdupOutputs,
    fid: np.ndarray,
    rows: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray],
    scores: dict[str, np.ndarray],
    flags: dict[str, np.ndarray],
) -> None:
    """fastdup's outliers; score = share of all neighbour similarities <= the row's lowest."""
    a, s = pairs
    if not len(s):
        return
    lowest = np.full(len(fid), np.inf)
    np.minimum.at(lowest, a, s)
    ordered = np.sort(s)
    found = np.isfinite(lowest)
    share = np.searchsorted(ordered, lowest[found], side="right") / len(ordered)
    filled = np.full(len(fid), np.nan)
    filled[found] = share
    # A file listed twice in the table: every row gets its file's score.
    by_file = pd.Series(filled).groupby(fid).transform("min").to_numpy()
    scores["outlier"][rows] = by_file[rows]
    flags["outlier"][rows] = np.isin(fid[rows], list(out.outliers))


def _labels(
    emb: np.ndarray,
    rows: np.ndarray,
    labels: list,
    seed: int,
    threads: int | None,
    th: dict[str, float],
    scores: dict[str, np.ndarray],
    flags: dict[str, np.ndarray],
    extra: dict[str, Any],
) -> None:
    """The built-in label probe, on fastdup's embeddings (cvnb fills what fastdup lacks)."""
    if len(rows) < 2:
        return
    from ._semantic import label_issue_scores

    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    unit = emb / np.where(norms > 0, norms, 1.0)
    given = [labels[r] for r in rows]
    score, prob, predicted = label_issue_scores(unit, given, seed=seed, threads=threads)
    scores["label_issue"][rows] = score
    flags["label_issue"][rows] = np.nan_to_num(score, nan=1.0) < th["label_issue"]
    extra["label_confidence"][rows] = prob
    for r, p, g in zip(rows, predicted, given, strict=True):
        if p is not None and p != g:
            extra["suggested_label"][r] = p

"""On-disk cache of the quality scan: what was measured, keyed by file content.

One SQLite file (stdlib ``sqlite3``, write-ahead log) with three tables:

- ``files``: file identity (absolute path, size, ``mtime_ns``) → sha256 of its bytes, so an
  unchanged file is not read again at all;
- ``features``: (sha256, feature version) → statistics, perceptual hash, or the reason the
  content cannot be decoded;
- ``embeddings``: (sha256, embedder key) → the embedding as float16 bytes.

Because features and embeddings are keyed by content, a renamed or copied file is not
measured twice, and another embedder (another :attr:`Embedder.key`) gets its own vectors.
Each chunk of a scan is written in one transaction: a scan stopped half-way keeps every
chunk it finished. Deleting the file is always safe; it is a cache.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CACHE_FILE", "FileKey", "ScanCache", "default_cache_path", "open_cache"]

CACHE_FILE = "scan-cache.sqlite"
_SCHEMA_VERSION = 1
_MAX_VARS = 500  # rows per "IN (…)" query, well below SQLite's limit on parameters
#: (absolute path, size in bytes, modification time in ns): a file's identity for the cache.
FileKey = tuple[str, int, int]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS features (
    sha256 TEXT NOT NULL, version TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (sha256, version));
CREATE TABLE IF NOT EXISTS embedders (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    sha256 TEXT NOT NULL, embedder INTEGER NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL,
    PRIMARY KEY (sha256, embedder));
"""


def default_cache_path() -> Path:
    """``cvnb.datasets.cache_dir() / "quality" / "scan-cache.sqlite"``."""
    from cvnb.datasets import cache_dir

    return cache_dir() / "quality" / CACHE_FILE


def open_cache(cache: bool | str | os.PathLike[str] | None) -> ScanCache:
    """The cache a scan asked for: True → default file, a path → that file, False → none."""
    if cache is False or cache is None:
        return ScanCache(None)
    return ScanCache(default_cache_path() if cache is True else Path(cache).expanduser())


@dataclass
class _Counts:
    file_hits: int = 0
    file_misses: int = 0
    feature_hits: int = 0
    feature_misses: int = 0
    embedding_hits: int = 0
    embedding_misses: int = 0
    chunks_written: int = 0


@dataclass
class ScanCache:
    """The scan's cache file, or a stand-in that remembers nothing (``path=None``).

    Attributes:
        path: The SQLite file, or None when caching is off.
        counts: Hits and misses per table and chunks written, for ``report.settings``.
    """

    path: Path | None
    counts: _Counts = field(default_factory=_Counts)

    def __post_init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self._embedder_ids: dict[str, int] = {}
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly in write().
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a crash loses no commit
            if db.execute("PRAGMA user_version").fetchone()[0] not in (0, _SCHEMA_VERSION):
                # A cache of another layout: start afresh (it only holds recomputable data).
                db.executescript(
                    "DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS features; "
                    "DROP TABLE IF EXISTS embedders; DROP TABLE IF EXISTS embeddings;"
                )
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as err:
            db.close()
            raise RuntimeError(
                f"The scan cache {str(self.path)!r} is not a usable SQLite file ({err}); "
                "delete it (it only holds recomputable results) or pass cache=False."
            ) from err
        self._db = db

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> ScanCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup_files(self, keys: Iterable[FileKey]) -> dict[str, str]:
        """sha256 of each file whose identity (path, size, mtime) is unchanged, by path."""
        keys = list(keys)
        found: dict[str, str] = {}
        if self._db is not None:
            wanted = {path: (size, mtime) for path, size, mtime in keys}
            query = "SELECT path, size, mtime_ns, sha256 FROM files WHERE"
            for rows in self._select(query, "path", wanted):
                for path, size, mtime, sha in rows:
                    if wanted[path] == (size, mtime):
                        found[path] = sha
        self.counts.file_hits += len(found)
        self.counts.file_misses += len(keys) - len(found)
        return found

    def lookup_features(self, shas: Iterable[str], version: str) -> dict[str, dict[str, Any]]:
        """Cached features of each content hash, for one feature version."""
        shas = set(shas)
        found: dict[str, dict[str, Any]] = {}
        if self._db is not None:
            query = "SELECT sha256, data FROM features WHERE version = ? AND"
            for rows in self._select(query, "sha256", shas, (version,)):
                found.update((sha, json.loads(data)) for sha, data in rows)
        self.counts.feature_hits += len(found)
        self.counts.feature_misses += len(shas) - len(found)
        return found

    def lookup_embeddings(self, shas: Iterable[str], key: str) -> dict[str, np.ndarray]:
        """Cached float32 embeddings of each content hash, for one embedder key."""
        shas = set(shas)
        found: dict[str, np.ndarray] = {}
        if self._db is not None and shas:
            embedder = self._embedder_id(key, create=False)
            if embedder is not None:
                query = "SELECT sha256, vec FROM embeddings WHERE embedder = ? AND"
                for rows in self._select(query, "sha256", shas, (embedder,)):
                    found.update(
                        (sha, np.frombuffer(vec, dtype=np.float16).astype(np.float32))
                        for sha, vec in rows
                    )
        self.counts.embedding_hits += len(found)
        self.counts.embedding_misses += len(shas) - len(found)
        return found

    def write(
        self,
        *,
        files: Iterable[tuple[FileKey, str]] = (),
        features: Iterable[tuple[str, str, dict[str, Any]]] = (),
        embeddings: Iterable[tuple[str, str, np.ndarray]] = (),
    ) -> None:
        """Store one chunk's results in a single transaction (all of it or none of it).

        Args:
            files: ``((path, size, mtime_ns), sha256)`` pairs.
            features: ``(sha256, version, data)`` with JSON-able ``data``.
            embeddings: ``(sha256, embedder key, vector)``; stored as float16.
        """
        if self._db is None:
            return
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                [(p, int(s), int(m), sha) for (p, s, m), sha in files],
            )
            db.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?)",
                [(sha, v, json.dumps(data)) for sha, v, data in features],
            )
            rows = [
                (sha, self._embedder_id(key), len(vec), np.asarray(vec, np.float16).tobytes())
                for sha, key, vec in embeddings
            ]
            db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._embedder_ids.clear()  # ids handed out inside the rolled-back transaction
            raise
        self.counts.chunks_written += 1

    def summary(self) -> dict[str, Any]:
        """Path and counts, JSON-ready (for ``report.settings["cache"]``)."""
        return {"path": str(self.path) if self.path else None, **vars(self.counts)}

    def _embedder_id(self, key: str, *, create: bool = True) -> int | None:
        if key in self._embedder_ids:
            return self._embedder_ids[key]
        assert self._db is not None
        row = self._db.execute("SELECT id FROM embedders WHERE key = ?", (key,)).fetchone()
        if row is None:
            if not create:
                return None
            cur = self._db.execute("INSERT INTO embedders (key) VALUES (?)", (key,))
            row = (cur.lastrowid,)
        self._embedder_ids[key] = int(row[0])
        return int(row[0])

    def _select(self, query: str, column: str, values: Iterable[Any], params: tuple = ()):
        """Run ``query`` (ending in WHERE or AND) with ``column IN (…)`` appended, in
        batches; yields row lists."""
        assert self._db is not None
        values = list(values)
        for start in range(0, len(values), _MAX_VARS):
            batch = values[start : start + _MAX_VARS]
            marks = ",".join("?" * len(batch))
            yield self._db.execute(f"{query} {column} IN ({marks})", (*params, *batch)).fetchall()

"""An index of the embedder's ONNX exports, so a later scan runs them without torch.

Making an embedder the first time loads the backbone in torch, exports it to ONNX and
checks the export (:mod:`cvnb.quality._embed_net`). For backbones whose weights are an
installed file (:func:`cvnb._weights.offline_weights_file`), an entry is written beside the
export, named by that file's identity and the library versions that shaped the graph. A
later :func:`~cvnb.quality.make_embedder` finds the entry and opens the export with
onnxruntime alone: importing timm and torch cost about 5 s of a 15 s cold scan of 574
photos on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from cvnb._weights import offline_weights_file
from cvnb.datasets import cache_dir

__all__ = ["embedder_folder", "read_entry", "write_entry"]

_INDEX_VERSION = 1
_FIELDS = ("onnx", "layers", "weights", "mean", "std", "dim")


def embedder_folder() -> Path:
    """Where exported embedders and their index entries are cached."""
    return cache_dir() / "quality" / "embedders"


def read_entry(model: str, size: int, features: str) -> dict[str, Any] | None:
    """The index entry for this embedder, or None (no entry, stale weights, export gone)."""
    path = _entry_path(model, size, features)
    if path is None or not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # a damaged entry is rebuilt by the torch path, which rewrites it
    if not isinstance(entry, dict) or any(f not in entry for f in _FIELDS):
        return None
    if not (embedder_folder() / str(entry["onnx"])).is_file():
        return None
    return entry


def write_entry(model: str, size: int, features: str, entry: dict[str, Any]) -> None:
    """Record an export (atomically); a model without an installed weights file is skipped."""
    path = _entry_path(model, size, features)
    if path is None:
        return
    missing = [f for f in _FIELDS if f not in entry]
    if missing:
        raise ValueError(f"index entry lacks {missing}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(entry, fh, indent=1)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _entry_path(model: str, size: int, features: str) -> Path | None:
    weights = offline_weights_file(model)
    if weights is None:
        return None
    stat = weights.stat()
    identity = {
        "index": _INDEX_VERSION,
        "weights": [str(weights.resolve()), stat.st_size, stat.st_mtime_ns],
        "versions": [_version(p) for p in ("timm", "torch", "onnx", "onnxruntime")],
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return embedder_folder() / f"{model}-{int(size)}px-{features}-{digest}.index.json"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None

"""Run records and run settings: metrics written atomically, and a notebook's depth.

A crash mid-write never leaves a half-written file: each write goes to a temporary file in
the same folder, which then replaces the old one in one step.

Notebooks keep their settings as plain literals in the ``parameters`` cell (papermill
replaces them); :func:`settings_from_env` then lets the environment override them, so CI's
``CVNB_FAST=1 pytest --nbval-lax notebooks`` runs every notebook at the ``"fast"`` depth.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"
#: How deep a notebook goes: ``"fast"`` (CI, tiny, ≤ 90 s), ``"demo"`` (about a minute),
#: ``"full"`` (the whole lesson on all the data).
DEPTHS = ("fast", "demo", "full")

__all__ = [
    "DEPTHS",
    "METRICS_FILE",
    "read_metrics",
    "record_metrics",
    "settings_from_env",
    "write_json",
]


def settings_from_env(depth: str, data: str | None) -> tuple[str, str | None]:
    """A notebook's depth and data, with the environment's overrides applied.

    ``CVNB_DEPTH`` (one of :data:`DEPTHS`) replaces ``depth``; else ``CVNB_FAST=1`` (what CI
    sets for nbval) means ``"fast"``. ``CVNB_DATA`` (a folder or CSV) replaces ``data``.
    Unset variables leave the values as they are.

    Args:
        depth: The notebook's ``DEPTH`` parameter.
        data: The notebook's ``DATA`` parameter (None: the embedded default data).

    Returns:
        ``(depth, data)``.

    Raises:
        ValueError: If the depth is not one of :data:`DEPTHS`.

    Example:
        >>> DEPTH, DATA = settings_from_env("full", None)  # doctest: +SKIP
    """
    if os.environ.get("CVNB_DEPTH"):
        depth = os.environ["CVNB_DEPTH"]
    elif os.environ.get("CVNB_FAST") == "1":
        depth = "fast"
    data = os.environ.get("CVNB_DATA") or data
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {DEPTHS}, got {depth!r} (check CVNB_DEPTH).")
    return depth, data


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_metrics(out: str | os.PathLike) -> dict[str, Any]:
    """The metrics recorded in ``out/metrics.json`` ({} when there are none yet)."""
    path = Path(out) / METRICS_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def record_metrics(
    out: str | os.PathLike, section: str | None = None, **values: Any
) -> dict[str, Any]:
    """Merge ``values`` into ``out/metrics.json`` and return the whole record.

    With ``section`` (a notebook's name, e.g. ``"00_quickstart"``) the values go into that
    notebook's own entry, so notebooks sharing a run folder never overwrite each other's
    ``epochs`` or ``wall_seconds``. Without it they go to the top level, which holds the
    run's headline figures (``accuracy``, ``onnx`` parity) that CI and scripts read. Keys
    given here replace the same keys recorded before; other keys are kept.

    Args:
        out: The run folder.
        section: The entry to merge into (None: the top level).
        **values: JSON-serializable figures.

    Returns:
        The whole record after the merge.

    Example:
        >>> record_metrics("runs/demo", "00_quickstart", epochs=5)  # doctest: +SKIP
        {'00_quickstart': {'epochs': 5}}
        >>> record_metrics("runs/demo", accuracy=0.98)  # doctest: +SKIP
        {'00_quickstart': {'epochs': 5}, 'accuracy': 0.98}
    """
    record = read_metrics(out)
    if section is None:
        record |= values
    else:
        record[section] = record.get(section, {}) | values
    write_json(Path(out) / METRICS_FILE, record)
    return record

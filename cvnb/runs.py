"""Run records: metrics and other JSON results, written atomically.

A crash mid-write never leaves a half-written file: each write goes to a temporary file in
the same folder, which then replaces the old one in one step.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"

__all__ = ["METRICS_FILE", "read_metrics", "record_metrics", "write_json"]


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


def record_metrics(out: str | os.PathLike, **values: Any) -> dict[str, Any]:
    """Merge ``values`` into ``out/metrics.json`` and return the whole record.

    Keys given here replace the same keys recorded before; other keys are kept, so several
    notebooks writing to one run folder each add their own figures.

    Example:
        >>> record_metrics("runs/demo", accuracy=0.98)  # doctest: +SKIP
        {'accuracy': 0.98}
    """
    record = read_metrics(out) | values
    write_json(Path(out) / METRICS_FILE, record)
    return record

"""onnxruntime sessions for the scan's embedder (no torch needed to run one)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ort_session"]


def ort_session(path: Path, threads: int | None, providers: list[str]):
    """A session over ``path`` with ``threads`` intra-op threads (None: the CPU count, at
    most 4 — onnxruntime's default of every core fights the scan's own worker threads)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or min(os.cpu_count() or 1, 4))
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=providers)

"""Pipeline files: :func:`load_pipeline` reads what :meth:`Pipeline.save` writes.

The document format itself (versioned JSON around albumentations' serialization) lives in
``_document.py``, below the pipeline.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ._document import PipelineFileError
from ._pipeline import Pipeline
from ._presets import DOMAIN_PRESETS, PRESETS

__all__ = ["load_pipeline"]


def load_pipeline(path: str | os.PathLike) -> Pipeline:
    """Read a pipeline file written by :meth:`Pipeline.save`.

    Raises:
        PipelineFileError: The file is missing, not JSON, not a cvnb pipeline, of an
            unknown format version, names a transform or parameter this albumentations
            does not know, or does not start with its recorded resize policy.

    Example:
        >>> pipeline = load_pipeline("runs/demo/pipeline.json")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise PipelineFileError(
            f"no pipeline file at {str(path)!r}: save one with pipeline.save(path), or use a "
            f"preset name ({', '.join((*PRESETS, *DOMAIN_PRESETS))})"
        )
    if not path.is_file():
        raise PipelineFileError(f"{str(path)!r} is a folder, not a pipeline file")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = (
            f" ({err.msg}, line {err.lineno} column {err.colno})" if hasattr(err, "lineno") else ""
        )
        raise PipelineFileError(
            f"{str(path)!r} is not JSON{where}: a pipeline file is the JSON that "
            "Pipeline.save writes; re-save it from the pipeline (or the explorer)"
        ) from err
    return Pipeline.from_dict(document, source=str(path))

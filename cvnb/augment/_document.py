"""The pipeline document: the versioned JSON that a pipeline file holds, written and read.

A document is ``{"cvnb_pipeline": 1, "size", "policy", "fill", "mix", "mix_alpha",
"train": A.to_dict(train), "valid": A.to_dict(valid)}``: the notebook, a training script
and the model card (the ONNX metadata) share it. This module sits below ``_pipeline.py``:
it reads a pipeline's attributes and returns ``Pipeline`` constructor arguments, so the
pipeline can carry its own serialisation without an import cycle.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import albumentations as A
from albumentations.core.serialization import SERIALIZABLE_REGISTRY

from ._mix import check_mix
from ._resize import canonical_policy, check_fill, check_size, resize_steps

if TYPE_CHECKING:
    from ._pipeline import Pipeline

__all__ = [
    "PIPELINE_FORMAT",
    "PipelineFileError",
    "pipeline_arguments",
    "pipeline_document",
    "write_document",
]

#: Version of the pipeline file format this cvnb writes and reads.
PIPELINE_FORMAT = 1
_KEY = "cvnb_pipeline"


class PipelineFileError(ValueError):
    """A pipeline file (or document) that cannot be loaded; the message says why and what
    to do about it."""


def pipeline_document(pipeline: Pipeline) -> dict[str, Any]:
    """The JSON-ready document of ``pipeline`` (see the module docstring)."""
    fill = pipeline.fill
    return {
        _KEY: PIPELINE_FORMAT,
        "size": pipeline.size,
        "policy": pipeline.policy,
        "fill": list(fill) if isinstance(fill, tuple) else fill,
        "mix": pipeline.mix,
        "mix_alpha": pipeline.mix_alpha,
        "train": _json(A.to_dict(pipeline.train)),
        "valid": _json(A.to_dict(pipeline.valid)),
    }


def write_document(document: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``document`` to ``path`` as JSON, atomically; parent folders are created."""
    path = Path(path)
    text = json.dumps(document, indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def pipeline_arguments(document: Any, *, source: str = "the pipeline document") -> dict[str, Any]:
    """The :class:`Pipeline` constructor arguments held in :func:`pipeline_document`'s output.

    Raises:
        PipelineFileError: See :func:`load_pipeline`.
    """
    if not isinstance(document, dict) or _KEY not in document:
        raise PipelineFileError(
            f"{source} is not a cvnb pipeline (no {_KEY!r} key): write pipelines with "
            "Pipeline.save, e.g. cvnb.augment.preset('medium').save(path)"
        )
    version = document[_KEY]
    if version != PIPELINE_FORMAT:
        newer = isinstance(version, int) and version > PIPELINE_FORMAT
        raise PipelineFileError(
            f"{source} has pipeline format {version!r}, this cvnb reads format "
            f"{PIPELINE_FORMAT}: "
            + ("upgrade cvnb to read it" if newer else "re-save it with Pipeline.save")
        )
    missing = [k for k in ("size", "policy", "train", "valid") if k not in document]
    if missing:
        raise PipelineFileError(f"{source} lacks {missing}; re-save it with Pipeline.save")
    settings = {
        "size": document["size"],
        "policy": document["policy"],
        "fill": document.get("fill", 0),
        "mix": document.get("mix"),
        "mix_alpha": document.get("mix_alpha", 0.4),
    }
    try:  # the settings alone, checked as the Pipeline constructor checks them
        check_size(settings["size"]), canonical_policy(settings["policy"])
        check_fill(settings["fill"]), check_mix(settings["mix"], settings["mix_alpha"])
    except (TypeError, ValueError) as err:
        raise PipelineFileError(f"{source}: {err}") from err
    train = _compose(document["train"], "train", source)
    valid = _compose(document["valid"], "valid", source)
    k = _check_resize(train, valid, settings, source)
    normalize = list(valid.transforms[k:])
    head = train.transforms[k : k + len(normalize)]
    if [_spec(t) for t in head] != [_spec(t) for t in normalize]:
        raise PipelineFileError(
            f"{source}: the steps after the resize in 'valid' "
            f"({[type(t).__name__ for t in normalize]}) must also follow it in 'train': "
            "what validation and export do to an image, training must do too"
        )
    return {
        "transforms": train.transforms[k + len(normalize) :],
        "normalize": normalize,
        **settings,
    }


# -- helpers ---------------------------------------------------------------------------


def _json(value: Any) -> Any:
    """Tuples to lists, numpy scalars to Python: what a JSON round trip would give."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} {value!r} into a pipeline file")


def _spec(transform: Any) -> Any:
    return _json(transform.to_dict_private())


def _compose(part: Any, name: str, source: str) -> A.Compose:
    if not isinstance(part, dict) or not isinstance(part.get("transform"), dict):
        raise PipelineFileError(
            f"{source}: {name!r} is not an albumentations document "
            "({'__version__': …, 'transform': {…}}); re-save the pipeline with Pipeline.save"
        )
    _check_nodes(part["transform"], name, source, part.get("__version__"))
    with warnings.catch_warnings():
        # albumentations 2.0.8 writes PadIfNeeded's inherited 'padding' and then warns on
        # reading it back; unknown arguments were already looked for in _check_nodes.
        warnings.filterwarnings("ignore", message=".*are not valid for transform")
        try:
            compose = A.from_dict(part)
        except (KeyError, TypeError, ValueError) as err:
            raise PipelineFileError(f"{source}: {name!r} cannot be built: {err}") from err
    if not isinstance(compose, A.Compose):
        raise PipelineFileError(f"{source}: {name!r} must be an A.Compose")
    return compose


def _check_nodes(node: Any, name: str, source: str, version: Any) -> None:
    cls = node.get("__class_fullname__") if isinstance(node, dict) else None
    if not isinstance(cls, str):
        raise PipelineFileError(f"{source}: a step in {name!r} has no '__class_fullname__'")
    if cls not in SERIALIZABLE_REGISTRY:
        raise PipelineFileError(
            f"{source}: unknown transform {cls!r} in {name!r}: albumentations "
            f"{A.__version__} has no transform of that name (the file says it was written "
            f"with albumentations {version}); fix the name or rebuild the pipeline"
        )
    children = node.get("transforms")
    if isinstance(children, list):
        for child in children:
            _check_nodes(child, name, source, version)
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            built = A.from_dict({"transform": node})
    except (TypeError, ValueError) as err:
        raise PipelineFileError(f"{source}: bad parameters for {cls} in {name!r}: {err}") from err
    # Arguments the transform would not write itself are ones it does not know (a typo, or
    # another albumentations version); albumentations only warns about them.
    unknown = sorted(set(node) - set(built.to_dict_private()))
    if unknown:
        raise PipelineFileError(
            f"{source}: unknown parameter(s) {unknown} for {cls} in {name!r} (albumentations "
            f"{A.__version__}); remove or rename them"
        )


def _check_resize(train: A.Compose, valid: A.Compose, settings: dict, source: str) -> int:
    args = (settings["size"], settings["policy"])
    for compose, crop, name in ((train, "random", "train"), (valid, "center", "valid")):
        expected = resize_steps(*args, fill=settings["fill"], crop=crop)
        found = compose.transforms[: len(expected)]
        if [_spec(t) for t in found] != [_spec(t) for t in expected]:
            raise PipelineFileError(
                f"{source}: {name!r} does not start with the recorded resize policy "
                f"({settings['policy']!r} to {settings['size']} px: "
                f"{[type(t).__name__ for t in expected]}); the policy must be cvnb's so "
                "training, validation and export agree. Rebuild the pipeline with "
                "make_pipeline(...) and save it again"
            )
    return len(resize_steps(*args, fill=settings["fill"]))

"""Locate the front-end sources (ESM + CSS) of the anywidget views.

The sources live in the repository's top-level ``widgets/`` folder. The wheel
force-includes that folder as ``cvnb/_static/``, so an installed cvnb finds them there, while
an editable install (or a source checkout on ``sys.path``) finds them beside the package.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import cvnb

__all__ = ["asset_path", "widget_css"]


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    static = importlib.resources.files("cvnb") / "_static"
    # A zip-imported package has no real folder; anywidget needs a file it can read, and
    # the zipped case is not one cvnb supports, so only real paths count.
    if isinstance(static, Path):
        dirs.append(static)
    dirs.append(Path(cvnb.__file__).resolve().parents[1] / "widgets")
    return dirs


def asset_path(name: str) -> Path:
    """Return the path of a front-end asset shipped with cvnb.

    Args:
        name: File name inside the assets folder, e.g. ``"image_grid.js"``.

    Returns:
        The absolute path of the file: ``cvnb/_static/<name>`` in an installed wheel, or
        ``<repo>/widgets/<name>`` in an editable install.

    Raises:
        FileNotFoundError: When no candidate folder holds the file; the message lists the
            folders that were searched.

    Example:
        >>> asset_path("image_grid.js").name
        'image_grid.js'
    """
    searched = _candidate_dirs()
    for folder in searched:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    where = ", ".join(str(d) for d in searched)
    raise FileNotFoundError(
        f"cvnb front-end asset {name!r} not found (searched: {where}). In a source checkout "
        "it belongs in the top-level widgets/ folder; in a wheel it is packed as cvnb/_static/ "
        "(reinstall cvnb if it is missing)."
    )


def widget_css(name: str) -> str:
    """A widget's stylesheet: the shared palette (``theme.css``), then its own ``name``.

    Args:
        name: The widget's CSS file in the assets folder, e.g. ``"freeze.css"``.

    Returns:
        The CSS text for the widget's ``_css``.
    """
    return "\n".join(asset_path(n).read_text(encoding="utf-8") for n in ("theme.css", name))

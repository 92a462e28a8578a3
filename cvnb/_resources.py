"""Find the files cvnb ships beside its code: the notebook curriculum.

In a source checkout (and an editable install) the notebooks are the repository's top-level
``notebooks/`` folder; the wheel packs that folder as ``cvnb/_notebooks/``, so an installed
cvnb finds them inside the package (see ``[tool.hatch.build.targets.wheel.force-include]``).
"""

from __future__ import annotations

import importlib.resources
import os
import re
import shutil
from pathlib import Path

__all__ = ["NOTEBOOK_PATTERN", "copy_notebooks", "notebook_files", "notebooks_dir"]

#: The curriculum's file names: two digits, an underscore, a name (``00_quickstart.ipynb``).
NOTEBOOK_PATTERN = re.compile(r"^\d\d_.+\.ipynb$")


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    packed = importlib.resources.files("cvnb") / "_notebooks"
    if isinstance(packed, Path):  # a zip-imported cvnb has no real folder to run from
        dirs.append(packed)
    dirs.append(Path(__file__).resolve().parents[1] / "notebooks")
    return dirs


def notebooks_dir() -> Path:
    """The folder holding cvnb's notebook curriculum.

    Returns:
        ``cvnb/_notebooks`` inside an installed wheel, else ``<checkout>/notebooks`` beside
        the package (a source checkout or an editable install).

    Raises:
        FileNotFoundError: When neither holds a notebook; the message lists where it looked
            and how to get them.

    Example:
        >>> sorted(p.name for p in notebook_files())[0]
        '00_quickstart.ipynb'
    """
    searched = _candidate_dirs()
    for folder in searched:
        if folder.is_dir() and any(NOTEBOOK_PATTERN.match(p.name) for p in folder.iterdir()):
            return folder
    where = ", ".join(str(d) for d in searched)
    raise FileNotFoundError(
        f"cvnb's notebooks were not found (searched: {where}). An installed cvnb carries them "
        "as cvnb/_notebooks; reinstall it (pip install --force-reinstall cvnb), or run from a "
        "source checkout, where they are the notebooks/ folder."
    )


def notebook_files() -> list[Path]:
    """The curriculum's notebooks (``NN_name.ipynb``), in order."""
    folder = notebooks_dir()
    return sorted(p for p in folder.iterdir() if NOTEBOOK_PATTERN.match(p.name))


def copy_notebooks(dest: str | os.PathLike[str], *, overwrite: bool = False) -> list[Path]:
    """Copy the notebook curriculum into ``dest`` (created if missing), to run or edit there.

    Args:
        dest: The folder to copy into.
        overwrite: Replace notebooks of the same name already in ``dest``.

    Returns:
        The copied files, in curriculum order.

    Raises:
        FileExistsError: When ``dest`` holds a notebook of the same name and ``overwrite`` is
            False (nothing is copied then); the message names the files.
    """
    sources = notebook_files()
    folder = Path(dest)
    clashes = [folder / p.name for p in sources if (folder / p.name).exists()]
    if clashes and not overwrite:
        names = ", ".join(p.name for p in clashes)
        raise FileExistsError(
            f"{folder} already holds {names}; pass overwrite=True (cvnb notebooks --force) to "
            "replace them, or choose an empty folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(p, folder / p.name)) for p in sources]

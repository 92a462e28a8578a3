"""Where embedded datasets are written, and how they are written safely."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path:
    """The folder cvnb writes embedded datasets to.

    ``$CVNB_CACHE`` when set, else ``$XDG_CACHE_HOME/cvnb``, else ``~/.cache/cvnb``.
    """
    if env := os.environ.get("CVNB_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cvnb"


def build_once(
    root: Path, marker: str, build: Callable[[Path], None], *, settings: str = "", owned: bool
) -> Path:
    """Build a dataset folder at ``root`` unless a complete one is already there.

    ``build`` writes into a fresh temporary sibling folder, which is renamed into place only
    when it finished, so an interrupted build never leaves a half-written dataset behind. The
    ``marker`` file, written last, says the folder is complete and holds ``settings``; a
    folder built with other settings is an error, not silently reused.

    Args:
        owned: ``root`` lies in cvnb's own cache, so an unmarked leftover there may be
            replaced. A folder the user named is never deleted: if it exists, is not empty and
            has no marker, this raises instead.
    """
    if (root / marker).is_file():
        found = (root / marker).read_text().strip()
        if settings and found not in {settings, "complete"}:
            raise ValueError(
                f"{root} already holds this dataset built with {found}, not {settings}; "
                "pass another root, or the same settings"
            )
        return root
    if root.exists() and not owned and any(root.iterdir()):
        raise FileExistsError(
            f"{root} exists and is not a cvnb dataset folder; cvnb never deletes folders it "
            "did not make. Pass a new or empty folder as root."
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        build(tmp)
        (tmp / marker).write_text(f"{settings or 'complete'}\n")
        if root.exists():
            # Empty, or an unmarked leftover inside cvnb's own cache: ours to replace.
            shutil.rmtree(root)
        try:
            os.replace(tmp, root)
        except OSError:
            if not (root / marker).is_file():  # lost a race to another process? fine if so
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root

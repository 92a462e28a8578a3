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


def build_once(root: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """Build a dataset folder at ``root`` unless a complete one is already there.

    ``build`` writes into a fresh temporary sibling folder, which is renamed into place only
    when it finished, so an interrupted build never leaves a half-written dataset behind. The
    ``marker`` file, written last, says the folder is complete.
    """
    if (root / marker).is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        build(tmp)
        (tmp / marker).write_text("complete\n")
        if root.exists():
            # An incomplete folder from an older interrupted run (no marker): cvnb made it,
            # so it is ours to replace.
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

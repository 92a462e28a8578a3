"""Run one notebook with papermill and render it to HTML: the engine under ``cvnb demo``.

Everything here needs the ``lab`` extra (papermill and its nbclient, nbconvert, nbformat,
traitlets); :func:`require_runner` names it before anything of it is imported, so a base
install reads ``pip install 'cvnb[lab]'`` instead of a bare ``No module named``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cvnb._extras import require_extra

__all__ = [
    "RUNNER_MODULES",
    "kernel_cpu_seconds",
    "require_runner",
    "run_notebook",
    "run_or_reason",
    "without_env",
]

#: What running a notebook imports, all from the ``lab`` extra.
RUNNER_MODULES = ("papermill", "nbclient", "nbconvert", "nbformat", "jupyter_client")


def require_runner(what: str) -> None:
    """Raise :class:`~cvnb._extras.MissingExtraError` naming the ``lab`` extra for ``what``
    unless every module of :data:`RUNNER_MODULES` can be imported (nothing is imported)."""
    require_extra("lab", what, *RUNNER_MODULES)


def run_notebook(notebook: Path, out: Path, parameters: dict) -> Path:
    """Execute one notebook with papermill into ``out`` and render it to HTML beside it.

    Only the parameters that the notebook's ``parameters`` cell defines are passed. The
    kernel talks over local IPC sockets, not TCP (no transport-encryption warning).

    Raises:
        MissingExtraError: If the ``lab`` extra (papermill, nbconvert…) is not installed.
    """
    require_runner("run_notebook (cvnb.demo)")
    import nbformat
    import papermill
    from jupyter_client import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbconvert import HTMLExporter

    known = papermill.inspect_notebook(str(notebook))
    executed = out / notebook.name
    try:
        with _quiet_papermill(), tempfile.TemporaryDirectory(prefix="cvnb-kernel-") as sockets:
            # IPC sockets are files: keep them out of the notebooks folder (papermill's cwd).
            # The kernel manager is ours (nbclient's `km`), so ours to shut down.
            km = AsyncKernelManager(
                kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel")
            )
            try:
                papermill.execute_notebook(
                    str(notebook),
                    str(executed),
                    parameters={k: v for k, v in parameters.items() if k in known},
                    cwd=str(notebook.parent),
                    progress_bar=True,
                    kernel_name="python3",
                    km=km,
                )
            finally:
                if km.has_kernel:
                    run_sync(km.shutdown_kernel)(now=True)
    finally:  # a failed run is saved with its error: render it too, that is where to look
        if executed.is_file():
            html, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
            executed.with_suffix(".html").write_text(html, encoding="utf-8")
    return executed


def run_or_reason(notebook: Path, out: Path, parameters: dict) -> str | None:
    """Run one notebook; None when it ran, else the error in one line (the run goes on)."""
    require_runner("run_notebook (cvnb.demo)")
    from papermill.exceptions import PapermillExecutionError

    try:
        run_notebook(notebook, out, parameters)
    except PapermillExecutionError as err:
        first = (err.evalue or "").strip().splitlines()[:1]
        return f"{err.ename} in cell {err.exec_count}" + (f": {first[0][:120]}" if first else "")
    return None


def kernel_cpu_seconds() -> float:
    """CPU seconds used by finished child processes (the notebooks' kernels) so far."""
    try:
        import resource  # Unix only
    except ImportError:
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def without_env(names: tuple[str, ...]) -> Iterator[None]:
    """Unset the environment variables ``names`` inside the block, restore them after."""
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@contextmanager
def _quiet_papermill() -> Iterator[None]:
    """papermill logs each kernel start at INFO; only its warnings and errors matter here."""
    logger = logging.getLogger("papermill")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)

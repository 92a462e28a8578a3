"""Start JupyterLab and drive notebooks in it with Playwright, for the real-browser tests.

The browser side talks to JupyterLab's own application object (the server runs with
``--LabApp.expose_app_in_browser``, which puts it at ``window.jupyterapp``): commands run
cells, and the notebook *model* tells us which cells ran and which raised. That is sturdier
than clicking menus or parsing ``[*]`` prompts, which move between JupyterLab releases.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# JupyterLab user settings for a quiet, deterministic test session: no news/update prompts
# (no network here), every cell attached to the DOM (the default "contentVisibility"
# windowing skips off-screen outputs), and the notebook's kernel started without asking.
LAB_USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
}


def find_chromium() -> str | None:
    """Return the path of Debian's chromium, or None when it is not installed."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab server started by :func:`start_lab`."""

    process: subprocess.Popen[bytes]
    base_url: str  # ends with "/"
    token: str
    root_dir: Path
    log_path: Path

    def url(self, path: str) -> str:
        """Return the URL of ``path`` (relative to the base URL) with the token attached."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the server's REST API (``api/...``) and return the decoded JSON reply."""
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def log_tail(self, n_chars: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return "(no log)"


def start_lab(root_dir: Path, work_dir: Path, *, timeout_s: float = 90) -> LabServer:
    """Start ``python -m jupyterlab`` on a free loopback port and wait until it answers.

    Args:
        root_dir: Folder that the server serves notebooks from (``ServerApp.root_dir``).
        work_dir: Scratch folder for the runtime dir, user settings, workspaces and the log.
        timeout_s: How long to wait for ``/api/status`` to answer.

    Returns:
        The running server; stop it with :func:`stop_lab`.
    """
    port = _free_port()
    token = secrets.token_hex(16)
    settings_dir = work_dir / "user-settings"
    for rel, values in LAB_USER_SETTINGS.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    (work_dir / "workspaces").mkdir(exist_ok=True)
    (work_dir / "runtime").mkdir(exist_ok=True)

    env = dict(os.environ)
    env.update(
        CVNB_FAST="1",
        # Only the runtime files (connection files, server info) are isolated: the
        # anywidget lab extension must still be found in the venv's share/jupyter.
        JUPYTER_RUNTIME_DIR=str(work_dir / "runtime"),
        PYTHONUNBUFFERED="1",
    )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",  # ServerApp.token is deprecated in server 2.x
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.terminals_enabled=False",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={work_dir / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI often run as root
    log_path = work_dir / "jupyterlab.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=root_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    server = LabServer(process, f"http://127.0.0.1:{port}/", token, root_dir, log_path)

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {process.returncode} while starting:\n"
                + server.log_tail()
            )
        try:
            server.api("api/status")
            return server
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.5)
    stop_lab(server)
    raise RuntimeError(f"JupyterLab did not answer within {timeout_s}s:\n{server.log_tail()}")


def stop_lab(server: LabServer, *, timeout_s: float = 30) -> None:
    """Shut the server down with its kernels (which run in their own sessions)."""
    if server.process.poll() is None:
        try:
            # /api/shutdown stops every kernel before the server exits.
            server.api("api/shutdown", method="POST")
        except (urllib.error.URLError, ConnectionError, OSError):
            server.process.send_signal(signal.SIGTERM)  # the server also reaps kernels on TERM
        try:
            server.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


# --------------------------------------------------------------------------- browser side

_PANEL_JS = """
(path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets("main")) {
    if (w.context && w.context.path === path && w.content && w.sessionContext) return w;
  }
  return null;
}
"""

_KERNEL_STATUS_JS = f"""
(path) => {{
  const panel = ({_PANEL_JS})(path);
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel ? kernel.status : null;
}}
"""

_RUN_STATE_JS = f"""
(path) => {{
  const panel = ({_PANEL_JS})(path);
  if (!panel) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const state = {{kernel: kernel ? kernel.status : null, running: [], pending: [], errors: []}};
  panel.content.widgets.forEach((cell, index) => {{
    const model = cell.model;
    if (model.type !== "code") return;
    const prompt = cell.node.querySelector(".jp-InputPrompt");
    if (model.executionState === "running" || (prompt && prompt.textContent.includes("*"))) {{
      state.running.push(index);
    }} else if (model.executionCount === null && model.sharedModel.getSource().trim()) {{
      state.pending.push(index);
    }}
    for (const out of model.outputs.toJSON()) {{
      if (out.output_type === "error") {{
        state.errors.push({{index, ename: out.ename, evalue: out.evalue,
                             traceback: (out.traceback || []).join("\\n")}});
      }}
    }}
  }});
  return state;
}}
"""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def write_notebook(path: Path, title: str, *cells: str) -> None:
    """A Python 3 notebook at ``path``: a markdown title, then one code cell per source."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)


class NotebookError(AssertionError):
    """A cell raised while a notebook ran in the browser."""


def _format_errors(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors:
        traceback = _ANSI.sub("", err.get("traceback") or "")
        parts.append(f"cell {err['index']}: {err['ename']}: {err['evalue']}\n{traceback}")
    return "\n\n".join(parts)


def _accept_dialogs(page: Any) -> None:
    """Accept a kernel-selection (or any other) dialog: its default is the Python 3 kernel."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        select = dialog.locator("select")
        if select.count():
            options = select.first.locator("option").all_inner_texts()
            python = next((o for o in options if "Python 3" in o), None)
            if python:
                select.first.select_option(label=python)
        dialog.locator(".jp-mod-accept").first.click()


def open_notebook(page: Any, base_url: str, token: str, notebook_relpath: str, timeout_s: float):
    """Open a notebook in JupyterLab and wait until its kernel is idle."""
    page.goto(f"{base_url}lab/tree/{quote(notebook_relpath)}?token={token}")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _accept_dialogs(page)
        if page.evaluate(_KERNEL_STATUS_JS, notebook_relpath) == "idle":
            return
        page.wait_for_timeout(250)
    raise TimeoutError(
        f"{notebook_relpath}: kernel not idle after {timeout_s}s "
        f"(status: {page.evaluate(_KERNEL_STATUS_JS, notebook_relpath)})"
    )


def wait_for_cells(page: Any, notebook_relpath: str, timeout_s: float) -> dict[str, Any]:
    """Wait until no cell runs or waits to run; raise :class:`NotebookError` on errors."""
    deadline = time.monotonic() + timeout_s
    state: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        state = page.evaluate(_RUN_STATE_JS, notebook_relpath)
        if state is not None and state["errors"] and not state["running"]:
            raise NotebookError(
                f"{notebook_relpath} raised in the browser:\n{_format_errors(state['errors'])}"
            )
        if (
            state is not None
            and state["kernel"] == "idle"
            and not state["running"]
            and not state["pending"]
        ):
            return state
        page.wait_for_timeout(500)
    raise TimeoutError(f"{notebook_relpath}: cells still running after {timeout_s}s: {state}")


def run_notebook_in_lab(
    page: Any, base_url: str, token: str, notebook_relpath: str, timeout_s: float = 300
) -> dict[str, Any]:
    """Open a notebook in JupyterLab, run all its cells and wait until they finished.

    Stderr output (warnings, progress bars) is fine; an error output (a traceback with an
    ``ename``) in any cell fails with the traceback.

    Args:
        page: A Playwright page.
        base_url: The server's base URL, ending with ``/``.
        token: The server's token.
        notebook_relpath: The notebook's path relative to the server's root dir.
        timeout_s: Limit for opening the notebook and for running all its cells (each).

    Returns:
        The final run state: ``{"kernel": "idle", "running": [], "pending": [], "errors": []}``.

    Raises:
        NotebookError: If a cell raised.
        TimeoutError: If the kernel did not become idle or the cells did not finish in time.
    """
    open_notebook(page, base_url, token, notebook_relpath, timeout_s)
    page.evaluate(
        """(path) => {
          const app = window.jupyterapp;
          for (const w of app.shell.widgets("main")) {
            if (w.context && w.context.path === path) app.shell.activateById(w.id);
          }
          // Not awaited: progress is polled from Python so that timeouts stay ours.
          app.commands.execute("notebook:run-all-cells");
        }""",
        notebook_relpath,
    )
    return wait_for_cells(page, notebook_relpath, timeout_s)


def run_cell_in_lab(page: Any, notebook_relpath: str, source: str, timeout_s: float = 60) -> str:
    """Append a code cell to an open notebook, run it, and return its text output.

    Returns:
        The cell's stdout and ``text/plain`` results, joined.

    Raises:
        NotebookError: If the cell (or any other cell of the notebook) raised.
        TimeoutError: If the cell did not finish within ``timeout_s``.
    """
    index = page.evaluate(
        f"""async ([path, source]) => {{
          const app = window.jupyterapp;
          const panel = ({_PANEL_JS})(path);
          app.shell.activateById(panel.id);
          const notebook = panel.content;
          notebook.activeCellIndex = notebook.widgets.length - 1;
          await app.commands.execute("notebook:insert-cell-below");
          notebook.activeCell.model.sharedModel.setSource(source);
          app.commands.execute("notebook:run-cell");  // not awaited: polled below
          return notebook.activeCellIndex;
        }}""",
        [notebook_relpath, source],
    )
    wait_for_cells(page, notebook_relpath, timeout_s)
    outputs = page.evaluate(
        f"""([path, index]) => {{
          const panel = ({_PANEL_JS})(path);
          return panel.content.widgets[index].model.outputs.toJSON();
        }}""",
        [notebook_relpath, index],
    )
    texts = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            texts.append(_join(out.get("text", "")))
        elif out.get("output_type") in {"execute_result", "display_data"}:
            texts.append(_join(out.get("data", {}).get("text/plain", "")))
    return "".join(texts)


def _join(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text

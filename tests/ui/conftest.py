"""Fixtures for the real-browser tests: a JupyterLab server and a headless chromium page.

Without chromium or Playwright the tests skip with the reason, except where
``CVNB_REQUIRE_DATA=1`` (``.ci/run`` sets it; not ``CI``, which other services set on users'
clones), where a missing browser is a failure: the project's CI must run them.
The helpers that drive notebooks live in ``lab_driver.py`` beside this file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from lab_driver import CHROMIUM_ARGS, LabServer, find_chromium, start_lab, stop_lab


def _in_ci() -> bool:
    return os.environ.get("CVNB_REQUIRE_DATA", "").strip() == "1"


def _missing_requirement() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except Exception as exc:
        return f"playwright is not importable ({type(exc).__name__}: {exc}); pip install playwright"
    if find_chromium() is None:
        return (
            "Debian's chromium is not installed (/usr/bin/chromium, or chromium on PATH); "
            "run `bash .ci/ensure_chromium.sh` as root (apt-get install -y chromium)"
        )
    return None


@pytest.fixture(scope="session")
def ui_requirements() -> None:
    """Skip (or, under CI, fail) when the browser stack is missing."""
    reason = _missing_requirement()
    if reason is None:
        return
    if _in_ci():
        pytest.fail(f"UI tests must run under CI, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab(ui_requirements, tmp_path_factory) -> Iterator[LabServer]:
    """A JupyterLab server (CVNB_FAST=1) serving a temporary root folder.

    Tests write their notebooks into ``lab.root_dir`` and open them by relative path.
    """
    root = tmp_path_factory.mktemp("lab_root")
    work = tmp_path_factory.mktemp("lab_work")
    server = start_lab(root, work)
    try:
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(autouse=True)
def _shutdown_kernels_after_test(request) -> Iterator[None]:
    """Stop the kernels a test started, so that later tests (and training) get the CPUs."""
    yield
    if "lab" not in request.fixturenames:
        return
    server: LabServer = request.getfixturevalue("lab")
    for kernel in server.api("api/kernels") or []:
        server.api(f"api/kernels/{kernel['id']}", method="DELETE")


@pytest.fixture(scope="session")
def browser(ui_requirements) -> Iterator[Any]:
    """Headless Debian chromium driven by Playwright (which cannot download browsers here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives each run a fresh temporary profile (user data dir).
        instance = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    """A page in a fresh browser context (no cookies or storage shared between tests)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()

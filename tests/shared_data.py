"""Where the real photo sets are, and what a test does when one is missing.

A plain module (not conftest.py), so test files import it by name: ``from shared_data import
shared_dataset``. ``conftest`` is ambiguous as a module name once several folders have one.

Real photo sets live beside the repository in ``../shared/datasets``. Where a set is missing,
a test that needs it skips with the reason, except where ``CVNB_REQUIRE_DATA=1`` (``.ci/run``
sets it): there it fails, so CI cannot pass without running it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
COCO_CROPS = SHARED_DATASETS / "coco-crops"
REQUIRE_DATA_ENV = "CVNB_REQUIRE_DATA"


def missing(reason: str) -> NoReturn:
    """Skip the calling test with ``reason``, or fail it where ``CVNB_REQUIRE_DATA=1``."""
    if os.environ.get(REQUIRE_DATA_ENV, "").strip() == "1":
        pytest.fail(f"{reason}, and {REQUIRE_DATA_ENV}=1 requires it", pytrace=False)
    pytest.skip(reason)


def shared_dataset(name: str) -> Path:
    """The folder of the real-photo set ``name`` in ``../shared/datasets`` (see :func:`missing`)."""
    path = SHARED_DATASETS / name
    if not path.is_dir():
        missing(f"real-photo set not found at {path} (../shared/datasets)")
    return path

"""Embedded default datasets that need no network (DESIGN.md §4)."""

from __future__ import annotations

from ._cache import cache_dir
from ._digits import digits

__all__ = ["cache_dir", "digits"]

"""Data quality: scan a dataset for defects, score the scan, keep a cleaning journal."""

from __future__ import annotations

__all__: list[str] = []

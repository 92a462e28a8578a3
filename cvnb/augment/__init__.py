"""Preprocessing and augmentation: resize policies, albumentations presets, pipelines."""

from __future__ import annotations

__all__: list[str] = []

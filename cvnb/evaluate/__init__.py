"""Evaluation: a learner's predictions over the dataset table."""

from __future__ import annotations

from ._predictions import predictions

__all__ = ["predictions"]

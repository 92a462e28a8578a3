"""Training: a fastai ``Learner`` over the dataset table."""

from __future__ import annotations

from ._learner import RESIZE_METHODS, LearnerConfig, make_learner, open_image

__all__ = ["RESIZE_METHODS", "LearnerConfig", "make_learner", "open_image"]

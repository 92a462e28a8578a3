"""Evaluation: predictions, figures that can be trusted, and cross-validation.

- :func:`predictions`: a learner's predictions over the dataset table.
- :func:`evaluation_report`: per-class precision/recall/F1, accuracy with a bootstrap
  interval, the confusion matrix, top losses and the error rate by slice, on ``valid`` or
  on a ``test`` split nothing was chosen on.
- :func:`cross_validate`: stratified k-fold training with cvnb's recipe, out-of-fold
  predictions for every training image; :func:`ensemble_predict` averages the k models.
"""

from __future__ import annotations

from ._predictions import predictions
from ._report import EvaluationReport, evaluation_report

__all__ = ["EvaluationReport", "evaluation_report", "predictions"]

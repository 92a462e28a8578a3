"""Evaluation: predictions, figures that can be trusted, and cross-validation.

- :func:`predictions`: a learner's predictions over the dataset table.
- :func:`evaluation_report`: per-class precision/recall/F1, accuracy with a bootstrap
  interval, the confusion matrix, top losses and the error rate by slice, on ``valid`` or
  on a ``test`` split nothing was chosen on.
- :func:`cross_validate`: stratified k-fold training with cvnb's recipe, out-of-fold
  predictions for every training image; :func:`ensemble_predict` averages the k models;
  :func:`oof_label_scores` ranks likely label errors from the out-of-fold probabilities.
- :func:`calibration`: expected calibration error and a reliability diagram;
  :func:`fit_temperature` fits one softmax temperature on validation (ECE before/after out
  of sample), stored in ``learn.cvnb_config`` and folded into ONNX exports.
"""

from __future__ import annotations

from ._calibration import CalibrationReport, calibration
from ._crossval import CrossValidation, cross_validate, oof_label_scores
from ._ensemble import ensemble_predict
from ._predictions import predictions
from ._report import EvaluationReport, evaluation_report
from ._temperature import TemperatureResult, fit_temperature

__all__ = [
    "CalibrationReport",
    "CrossValidation",
    "EvaluationReport",
    "TemperatureResult",
    "calibration",
    "cross_validate",
    "ensemble_predict",
    "evaluation_report",
    "fit_temperature",
    "oof_label_scores",
    "predictions",
]

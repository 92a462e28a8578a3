"""Training: a fastai ``Learner`` over the dataset table, and the tools to tune it.

- :func:`make_learner` builds the ``Learner`` (augmentation pipelines via ``augment=``).
- :func:`find_lr` runs the learning-rate range test and leaves the learner as it was.
- :func:`layer_table` / :func:`apply_freeze` / :class:`UnfreezeSchedule`: layer freezing
  and discriminative learning rates over the model's layer groups.
- :func:`find_batch_size` / :func:`accumulate_to`: the batch that fits and is fastest, and
  gradient accumulation for a larger one.
- :func:`fit`: cvnb's recipe (probe head, discriminative one-cycle), with schedules, early
  stopping and save-best as one-line options; :func:`fit_probe_head` alone.
- :func:`diagnose` reads the recorded curves and names what went wrong, with an action.
"""

from __future__ import annotations

from cvnb._extras import require_extra

require_extra("train", __name__)  # before the imports below: names the missing extra

from ._albumentations import AlbumentationsTransform
from ._batch import AccumulationPlan, BatchSizeResult, accumulate_to, find_batch_size
from ._doctor import (
    FINDING_KINDS,
    Curves,
    Diagnosis,
    DoctorThresholds,
    Finding,
    diagnose,
    diagnose_curves,
    smooth_losses,
)
from ._freeze import (
    DEFAULT_LR_SPREAD,
    TABLE_COLUMNS,
    UnfreezeSchedule,
    apply_freeze,
    discriminative_lrs,
    freeze_code,
    group_names,
    layer_table,
    plot_layer_table,
)
from ._learner import RESIZE_METHODS, LearnerConfig, make_learner, open_image
from ._lr import find_lr
from ._lr_curve import SUGGESTION_METHODS, LRFinderResult, NoiseRule, assess_lr_curve
from ._preserve import preserved_learner
from ._probe import ProbeResult, fit_probe_head
from ._recipe import PROBE_LR, SCHEDULES, FitResult, KeepBatchNormStats, fit

__all__ = [
    "DEFAULT_LR_SPREAD",
    "FINDING_KINDS",
    "PROBE_LR",
    "RESIZE_METHODS",
    "SCHEDULES",
    "SUGGESTION_METHODS",
    "TABLE_COLUMNS",
    "AccumulationPlan",
    "AlbumentationsTransform",
    "BatchSizeResult",
    "Curves",
    "Diagnosis",
    "DoctorThresholds",
    "Finding",
    "FitResult",
    "KeepBatchNormStats",
    "LRFinderResult",
    "LearnerConfig",
    "NoiseRule",
    "ProbeResult",
    "UnfreezeSchedule",
    "accumulate_to",
    "apply_freeze",
    "assess_lr_curve",
    "diagnose",
    "diagnose_curves",
    "discriminative_lrs",
    "find_batch_size",
    "find_lr",
    "fit",
    "fit_probe_head",
    "freeze_code",
    "group_names",
    "layer_table",
    "make_learner",
    "open_image",
    "plot_layer_table",
    "preserved_learner",
    "smooth_losses",
]

"""Training: a fastai ``Learner`` over the dataset table, and the tools to tune it.

- :func:`make_learner` builds the ``Learner`` (augmentation pipelines via ``augment=``) at
  :func:`default_img_size` unless told otherwise.
- :func:`find_lr` runs the learning-rate range test and leaves the learner as it was.
- :func:`layer_table` / :func:`plan_freeze` / :func:`apply_freeze` /
  :class:`UnfreezeSchedule`: layer freezing and discriminative learning rates over the
  model's layer groups.
- :func:`find_batch_size` / :func:`accumulate_to`: the batch that fits and is fastest, and
  gradient accumulation for a larger one.
- :func:`fit`: cvnb's recipe (probe head, discriminative one-cycle, and the probe kept
  when fine-tuning does not beat it on held-back images), with schedules, early stopping
  and save-best as one-line options; :func:`fit_probe_head` alone; :func:`history` for
  any learner's epoch table; :func:`balanced_accuracy`.
- :func:`diagnose` reads the recorded curves and names what went wrong, with an action.
"""

from __future__ import annotations

from cvnb._extras import require_extra

require_extra("train", __name__)  # before the imports below: names the missing extra

from ._batch import AccumulationPlan, BatchSizeResult, accumulate_to, find_batch_size
from ._doctor import Diagnosis, Finding, diagnose
from ._fit_result import FitResult, history
from ._freeze import (
    FreezePlan,
    UnfreezeSchedule,
    apply_freeze,
    freeze_code,
    layer_table,
    plan_freeze,
)
from ._freeze_plot import plot_layer_table
from ._learner import LearnerConfig, make_learner
from ._lr import find_lr
from ._lr_curve import LRFinderResult
from ._metrics import balanced_accuracy
from ._preserve import preserved_learner
from ._probe import ProbeResult, fit_probe_head
from ._recipe import PROBE_LR, SCHEDULES, fit
from ._size import default_img_size

__all__ = [
    "PROBE_LR",
    "SCHEDULES",
    "AccumulationPlan",
    "BatchSizeResult",
    "Diagnosis",
    "Finding",
    "FitResult",
    "FreezePlan",
    "LRFinderResult",
    "LearnerConfig",
    "ProbeResult",
    "UnfreezeSchedule",
    "accumulate_to",
    "apply_freeze",
    "balanced_accuracy",
    "default_img_size",
    "diagnose",
    "find_batch_size",
    "find_lr",
    "fit",
    "fit_probe_head",
    "freeze_code",
    "history",
    "layer_table",
    "make_learner",
    "plan_freeze",
    "plot_layer_table",
    "preserved_learner",
]

"""Explain: Grad-CAM, SHAP and LIME maps of one image side by side, scored alike.

- :func:`explain` / :func:`explain_one`: the maps (:class:`Explanations`,
  :class:`Explanation`), each with its seconds, model calls, RISE deletion AUC (lower is
  better) and insertion AUC (higher is better) beside a random map's.
- :func:`sanity_check`: the model-randomisation test (Adebayo et al. 2018): a map that
  barely changes when the model is destroyed is not explaining the model.

Every method runs on the learner's deterministic validation preprocessing (as the ONNX
export), and nothing is written beside the images.
"""

from __future__ import annotations

from cvnb._extras import require_extra

require_extra("train", __name__)  # before the imports below: names the missing extra

from ._explain import DEFAULT_BUDGETS, METHODS, explain, explain_one
from ._faithfulness import STEPS, centre_map, deletion_insertion, random_map
from ._result import Explanation, Explanations
from ._sanity import SanityReport, sanity_check

__all__ = [
    "DEFAULT_BUDGETS",
    "METHODS",
    "STEPS",
    "Explanation",
    "Explanations",
    "SanityReport",
    "centre_map",
    "deletion_insertion",
    "explain",
    "explain_one",
    "random_map",
    "sanity_check",
]

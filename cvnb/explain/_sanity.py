"""The model-randomisation sanity check (Adebayo et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass
class SanityReport:
    """Placeholder."""

    table: pd.DataFrame
    model_sensitive: dict[str, bool]


def sanity_check(learn, image, methods=("gradcam",), target=None, *, seed=0):
    """Placeholder."""
    raise NotImplementedError

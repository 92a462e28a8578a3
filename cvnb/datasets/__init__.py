"""Embedded default datasets that need no network.

- :func:`digits`: scikit-learn's 1,797 handwritten digits written once as image files.
- :func:`dirty_digits`: a colour variant of them with planted, recorded defects of every
  kind the quality scan looks for (``truth.csv``), to score a scan against.
- :func:`dirty_copy`: the same planting on a copy of your own folder.
"""

from __future__ import annotations

from ._digits import digits
from ._dirty import DEFAULT_COUNTS, TRUTH_FILE, dirty_copy, dirty_digits
from ._folder_cache import cache_dir

__all__ = ["DEFAULT_COUNTS", "TRUTH_FILE", "cache_dir", "digits", "dirty_copy", "dirty_digits"]

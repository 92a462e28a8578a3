"""Load image datasets as tables, read images robustly, summarize a dataset.

A dataset is a pandas DataFrame with one row per image file and at least the columns
``path``, ``label`` and ``split``; :func:`load_images` builds it from a
folder, a CSV/Parquet file or a DataFrame and checks every file once, and
:func:`read_image` is the one function that decodes images everywhere in cvnb.

Example:
    >>> from cvnb.data import load_images, readable, subset, summarize
    >>> df = load_images("data/pets")  # doctest: +SKIP
    >>> summarize(df)  # doctest: +SKIP
    >>> train_ok = readable(df)  # doctest: +SKIP
    >>> quick = subset(train_ok, per_class=20)  # doctest: +SKIP
"""

from __future__ import annotations

from ._load import load_images, readable
from ._read import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, ImageReadError, check_image, read_image
from ._splits import make_splits
from ._subset import subset
from ._summary import Summary, summarize
from ._thumbnail import encode_thumbnail

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "Summary",
    "check_image",
    "encode_thumbnail",
    "load_images",
    "make_splits",
    "read_image",
    "readable",
    "subset",
    "summarize",
]

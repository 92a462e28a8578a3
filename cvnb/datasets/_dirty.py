"""Dirty datasets: a clean image set with planted, recorded defects, so a scan can score itself.

``dirty_copy`` copies an ImageFolder set and plants defects of every issue kind of
``cvnb.quality`` (its ``ISSUES``), writing the ground truth to ``truth.csv``; ``dirty_digits`` does
this, once and cached, for a colour variant of the embedded digits.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ._folder_cache import build_once, cache_dir
from ._plant import (
    DEFAULT_COUNTS,
    PLANT_VERSION,
    TRUTH_COLUMNS,
    TRUTH_FILE,
    check_counts,
    plant,
)

__all__ = ["DEFAULT_COUNTS", "TRUTH_COLUMNS", "TRUTH_FILE", "dirty_copy", "dirty_digits"]

_MARKER = ".cvnb-dirty-v1"
_DIGITS_MARKER = f".cvnb-dirty-digits-v{PLANT_VERSION}"  # another version: rebuilt
_CLEAN = ".clean"  # dirty_digits keeps its clean colour set here; load_images skips it


def dirty_copy(
    source: str | os.PathLike[str] | pd.DataFrame,
    root: str | os.PathLike[str],
    *,
    seed: int = 0,
    counts: dict[str, int] | None = None,
    progress: bool = True,
) -> Path:
    """Copy a clean image set into ``root`` and plant recorded defects of every issue kind.

    ``root`` gets the ImageFolder layout ``root/<split>/<class>/<file>`` that
    :func:`cvnb.data.load_images` reads, and ``root/truth.csv`` (ignored by ``load_images``,
    which skips files directly in ``root``) with one row per defective file and issue:
    ``path`` (absolute), ``issue``, ``source`` (the file it was made from: the original in
    ``root`` for a duplicate copy, the original in ``source`` for a replaced or moved one;
    empty for an original and for made-up files), ``true_label`` (the right class; empty
    where none fits) and ``detail`` (what was done). What is planted, with seeded randomness:

    - ``unreadable``: zero-byte files, truncated copies, text files with an image suffix.
    - ``exact_duplicate``: byte copies under another name, same class and split. Both files
      are positives, and also ``near_duplicate`` positives (a near group holds its exact
      members).
    - ``near_duplicate``: copies resized down and back, re-saved as JPEG at quality 10–25,
      cropped by 5–10 % and resized back, or brightened/darkened by 10–20 % (sizes kept, so
      they are not ``odd_size``). Both files are positives.
    - ``leakage``: exact or near copies put in another split; both files are positives, and
      ``exact_duplicate``/``near_duplicate`` positives as well.
    - ``dark``, ``bright``, ``blurry``, ``low_information`` (near-constant, in a saturated
      mid-bright colour so it is neither dark nor grey), ``odd_size`` (smaller than half the
      set's smallest, or larger than twice its largest; an upscaled image is soft at its own
      resolution, so the larger ones are ``blurry`` positives too), ``odd_aspect`` (more
      elongated than any in the set, at least 4:1, at the same area) and ``grayscale``: the
      original is *replaced* by its defective version (not kept beside it), so the defect
      is not also a duplicate. On photos (at least 100 px on the shorter side) every
      second ``bright`` defect is what a user does with PIL, an overexposure
      (``ImageEnhance.Brightness(3.5)``, more for a photo too dark to blow out at 3.5),
      and every second ``blurry`` one ``ImageFilter.GaussianBlur(6)``; the others (and
      all on smaller images) are washed out towards white, or blurred with a radius of
      8–11 % of the shorter side.
    - ``outlier``: crops of scikit-learn's two sample photos, from non-overlapping tiles,
      filed under random classes; with no class that fits, they are ``label_issue``
      positives too.
    - ``label_issue``: originals moved to a wrong class folder; ``true_label`` says which
      class is right.

    Each original is used for at most one defect. The source is only read, never changed;
    unreadable files already in it are copied and listed as ``unreadable`` too.

    Args:
        source: A clean set: a folder, CSV/Parquet file or table as taken by
            :func:`cvnb.data.load_images`.
        root: A new or empty folder to write to. Called again with the same arguments on a
            complete ``root``, it returns at once without writing.
        seed: Seed of every random choice.
        counts: Defects per issue (keys from :data:`DEFAULT_COUNTS`; missing keys take the
            default). The defaults suit about 1,800 images; on a smaller set they shrink in
            proportion so that at most 40 % of the originals are used (at least 2 each).
        progress: Show a progress bar while writing.

    Returns:
        ``root`` as an absolute path.

    Raises:
        ValueError: For unknown or negative counts, counts that need more originals than
            the set has, ``leakage`` on a set with one split, or ``root`` inside ``source``.
        FileExistsError: ``root`` is a non-empty folder cvnb did not write (never deleted).

    Example:
        >>> root = dirty_copy("data/pets", "data/pets-dirty", seed=0)  # doctest: +SKIP
        >>> truth = pd.read_csv(root / "truth.csv")  # doctest: +SKIP
    """
    from cvnb.data import load_images

    root = Path(os.path.abspath(Path(root).expanduser()))
    if isinstance(source, pd.DataFrame):
        keys = source[[c for c in ("path", "label", "split") if c in source]].astype(str)
        what = "table-" + hashlib.sha1(keys.to_csv(index=False).encode()).hexdigest()[:12]
    else:
        where = Path(os.path.abspath(Path(source).expanduser()))
        if root == where or where in root.parents:
            raise ValueError(f"root {str(root)!r} lies inside the source; pass another folder.")
        what = str(where)
    check_counts(counts)
    settings = f"source={what} seed={seed} counts={json.dumps(counts, sort_keys=True)}"
    settings += f" planting=v{PLANT_VERSION}"

    def build(tmp: Path) -> None:
        table = load_images(source, valid_pct=0)  # copied as it is: no split carved out
        plant(table, tmp, root, seed=seed, counts=counts, progress=progress)

    return build_once(root, _MARKER, build, settings=settings, owned=False)


def dirty_digits(
    root: str | os.PathLike[str] | None = None, seed: int = 0, *, progress: bool = True
) -> Path:
    """The embedded digits with planted defects of every issue kind, and their truth.

    scikit-learn's digits are 8×8 greyscale, where blur, crops, resizing and "grayscale"
    mean nothing. So each digit is first upscaled to 32×32 (bicubic) and painted with a
    seeded random foreground and background colour, giving a clean *colour* set (kept in
    ``root/.clean``, which :func:`cvnb.data.load_images` skips as a hidden folder; scan it
    to see what a scan flags on clean data). :func:`dirty_copy` then plants the defects from
    it with the default counts, so every defect kind is meaningful. The split is that of
    :func:`cvnb.datasets.digits`. Built once (atomically) and reused.

    Args:
        root: Folder to write to; defaults to ``<cache>/dirty-digits`` (``-s<seed>`` for
            another seed), see :func:`cvnb.datasets.cache_dir`.
        seed: Seed of the colours and of the planted defects.
        progress: Show a progress bar while building.

    Returns:
        The dataset root; its ground truth is ``root/truth.csv``.

    Raises:
        FileExistsError: ``root`` is a non-empty folder cvnb did not write.
        ValueError: ``root`` was built with another seed.

    Example:
        >>> from cvnb.data import load_images
        >>> root = dirty_digits()  # doctest: +SKIP
        >>> df = load_images(root)  # doctest: +SKIP
        >>> truth = pd.read_csv(root / "truth.csv")  # doctest: +SKIP
    """
    owned = root is None
    if root is None:
        root = cache_dir() / ("dirty-digits" if seed == 0 else f"dirty-digits-s{seed}")
    final = Path(os.path.abspath(Path(root).expanduser()))

    def build(tmp: Path) -> None:
        table = _write_colour_digits(tmp / _CLEAN, seed)
        table["source_final"] = [str(final / Path(p).relative_to(tmp)) for p in table["path"]]
        plant(table, tmp, final, seed=seed, counts=None, progress=progress)

    return build_once(final, _DIGITS_MARKER, build, settings=f"seed={seed}", owned=owned)


def _write_colour_digits(out: Path, seed: int) -> pd.DataFrame:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.clip(bunch.images * 16.0, 0, 255).astype(np.uint8)
    train, _ = train_test_split(  # the split of cvnb.datasets.digits()
        np.arange(len(images)), test_size=0.2, random_state=0, stratify=bunch.target
    )
    train_set = set(train.tolist())
    rng = np.random.default_rng([seed, 1])
    rows = []
    for i, (pixels, target) in enumerate(zip(images, bunch.target, strict=True)):
        ink = Image.fromarray(pixels).resize((32, 32), Image.Resampling.BICUBIC)
        t = np.asarray(ink, dtype=np.float32)[..., None] / 255.0
        bg, fg = _colour_pair(rng)
        rgb = (bg * (1 - t) + fg * t) * 255
        split = "train" if i in train_set else "valid"
        path = out / split / str(int(target)) / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb.round().astype(np.uint8)).save(path)
        rows.append((str(path), str(int(target)), split, 32, 32))
    table = pd.DataFrame(rows, columns=["path", "label", "split", "width", "height"])
    return table.assign(error=None)


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and ink colours, moderately saturated, with a clear luminance contrast (so
    every clean digit is sharp and legible, and none is dark or bright overall)."""
    luma = np.array([0.299, 0.587, 0.114])
    while True:
        bg, fg = (
            np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.35, 0.7), rng.uniform(0.3, 1)))
            for _ in range(2)
        )
        if 0.3 <= bg @ luma <= 0.75 and abs((fg - bg) @ luma) >= 0.35:
            return bg, fg

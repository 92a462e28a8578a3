"""scikit-learn's handwritten digits, written once as image files (the offline default)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._folder_cache import build_once, cache_dir

_MARKER = ".cvnb-digits-v1"


def digits(root: str | Path | None = None, *, valid_pct: float = 0.2, seed: int = 0) -> Path:
    """The embedded default dataset: 1,797 real 8×8 scans of handwritten digits, as PNG files.

    The images come from scikit-learn's copy of the UCI optical-recognition set, so no network
    is needed. They are written once, in ImageFolder layout, with a fixed stratified split::

        <root>/train/<digit>/<index>.png
        <root>/valid/<digit>/<index>.png

    The same file-based loading path as a user's own data is exercised
    (``cvnb.data.load_images(digits())``). Each file is an 8×8 grayscale PNG whose 0–16
    intensities are scaled to 0–255; a later step resizes them for the model.

    Args:
        root: Folder to write to. Defaults to ``<cache>/digits`` where ``<cache>`` is
            ``$CVNB_CACHE`` or ``~/.cache/cvnb``.
        valid_pct: Fraction of each class put in ``valid``.
        seed: Seed of the split. Under the default root, another split gets another folder;
            a given ``root`` already built with another split raises ``ValueError``.

    Returns:
        The dataset's root folder.

    Raises:
        FileExistsError: ``root`` is a non-empty folder that cvnb did not build (it is
            never deleted or overwritten).

    Example:
        >>> from cvnb.datasets import digits
        >>> from cvnb.data import load_images
        >>> df = load_images(digits())
        >>> len(df), sorted(df.split.unique())
        (1797, ['train', 'valid'])
    """
    if not 0.0 < valid_pct < 1.0:
        raise ValueError(f"valid_pct must be between 0 and 1, got {valid_pct}")
    owned = root is None
    if root is None:
        suffix = "" if (valid_pct, seed) == (0.2, 0) else f"-v{valid_pct:g}-s{seed}"
        root = cache_dir() / f"digits{suffix}"
    return build_once(
        Path(root),
        _MARKER,
        lambda tmp: _write_digits(tmp, valid_pct, seed),
        settings=f"valid_pct={valid_pct:g} seed={seed}",
        owned=owned,
    )


def _write_digits(out: Path, valid_pct: float, seed: int) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.clip(bunch.images * 16.0, 0, 255).astype(np.uint8)
    index = np.arange(len(images))
    train_idx, valid_idx = train_test_split(
        index, test_size=valid_pct, random_state=seed, stratify=bunch.target
    )
    for split, idx in (("train", train_idx), ("valid", valid_idx)):
        for i in idx:
            folder = out / split / str(int(bunch.target[i]))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).save(folder / f"{i:04d}.png")

"""Load an image dataset as cvnb's table: one row per image file.

Pure logic: no ipywidgets, traitlets or IPython here.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from ._read import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, _check

__all__ = ["load_images", "readable"]

COLUMNS = ["path", "label", "split", "width", "height", "mode", "format", "error"]

#: Split folder / value names (lowercased) and the split they mean.
SPLIT_NAMES = {
    "train": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "test": "test",
}
SPLIT_ORDER = {"train": 0, "valid": 1, "test": 2}

_PROGRESS_MIN = 500  # below this many files, decoding is quick and a bar is noise
_THREADS_MIN = 64  # below this, a thread pool costs more than it saves


def load_images(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    valid_pct: float = 0.2,
    seed: int = 42,
    check: bool = True,
    label_col: str = "label",
    path_col: str = "path",
    split_col: str = "split",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> pd.DataFrame:
    """Load an image dataset as a table with one row per image file.

    ``source`` may be:

    - a folder in ImageFolder layout with split folders, ``root/<split>/<class>/…``, where
      ``<split>`` is ``train``, ``valid``/``val``/``validation`` or ``test`` in any case;
    - a folder ``root/<class>/…`` without split folders: the images are split into train
      and valid, stratified by class and seeded (see ``valid_pct``);
    - a CSV or Parquet file with a path column and a label column, and optionally a split
      column; relative paths are resolved against the file's folder;
    - a pandas DataFrame with the same columns (relative paths resolved against the
      current folder).

    Folders are scanned recursively below each class folder. Files count as images by
    extension (:data:`IMAGE_EXTENSIONS`, any case); hidden files and folders (names starting
    with ``.``) and files directly in ``root`` are ignored, and so are other folders beside
    split folders (such as the ``models/`` folder fastai saves into). Rows from a table are
    all kept,
    whatever their extension. Other columns of a table are kept after cvnb's columns.

    Every file is decoded once (``check=True``) with :func:`cvnb.data.check_image`, so
    broken files show up as rows with a reason in ``error`` instead of failing mid-epoch;
    :func:`readable` keeps the others. Nothing is ever moved or deleted.

    Args:
        source: A folder, a ``.csv``/``.parquet`` file, or a DataFrame (see above).
        valid_pct: Fraction of each class put in the valid split when the source has no
            split, or has a train split but no valid one (``root/train`` + ``root/test``:
            valid is then carved out of train, test is left alone, and a ``UserWarning``
            and ``df.attrs["split_note"]`` say so). Each class with at least two images
            gets at least one valid and one train image; a class with a single image goes
            to train. ``0`` puts all in train.
        seed: Seed of the train/valid split; the same seed gives the same split.
        check: Decode every file to fill ``width``, ``height``, ``mode``, ``format`` and
            ``error``. ``False`` skips decoding (fast; those columns stay empty).
        label_col: Name of the label column in a table source.
        path_col: Name of the path column in a table source.
        split_col: Name of the optional split column in a table source.
        max_pixels: Passed to :func:`cvnb.data.check_image`; larger images are errors.

    Returns:
        A DataFrame with columns, in order: ``path`` (absolute path, str), ``label`` (str),
        ``split`` (``"train"``, ``"valid"`` or ``"test"``), ``width`` and ``height``
        (``Int64``, after EXIF orientation; ``<NA>`` when unreadable or not checked),
        ``mode`` (the mode stored in the file, e.g. ``"RGB"``, ``"CMYK"``, ``"I;16"``) and
        ``format`` (e.g. ``"JPEG"``), both object dtype with ``None`` when unknown, and
        ``error`` (object dtype: ``None`` for a readable file, else the reason as str).
        Rows are sorted by split (train, valid, test), label and path, with a fresh index.
        ``df.attrs["source"]`` holds the source as a str.

    Raises:
        FileNotFoundError: If ``source`` does not exist.
        ValueError: If ``source`` is a URL, an empty folder, a folder without class
            folders or images, a table without the path or label column, or a table with
            unknown split values; or if ``valid_pct`` is not in [0, 1).

    Example:
        >>> df = load_images("data/pets")  # doctest: +SKIP
        >>> df.groupby("split").size()  # doctest: +SKIP
        split
        train    800
        valid    200
        dtype: int64
        >>> train_ok = readable(df)  # doctest: +SKIP
    """
    if not 0 <= valid_pct < 1:
        raise ValueError(f"valid_pct must be in [0, 1), got {valid_pct}.")
    if isinstance(source, pd.DataFrame):
        table = _from_table(source, Path.cwd(), label_col, path_col, split_col)
        described = f"<DataFrame with {len(source)} rows>"
    else:
        table, described = _from_path(source, label_col, path_col, split_col)
    if table["split"].isna().any():
        todo = table["split"].isna()
        table.loc[todo, "split"] = _stratified_split(
            table.loc[todo, "label"].tolist(), valid_pct=valid_pct, seed=seed
        )
    note = _carve_valid(table, valid_pct=valid_pct, seed=seed)
    table = _sorted(table)
    table = _with_checks(table, check=check, max_pixels=max_pixels)
    table.attrs["source"] = described
    if note:
        table.attrs["split_note"] = note
        warnings.warn(note, UserWarning, stacklevel=2)
    return table


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """Return the rows of a loaded table whose image could be read.

    Args:
        df: A table from :func:`load_images` (it needs the ``error`` column).

    Returns:
        A copy with the rows whose ``error`` is empty, with a fresh index.

    Raises:
        ValueError: If ``df`` has no ``error`` column.

    Example:
        >>> ok = readable(load_images("data/pets"))  # doctest: +SKIP
    """
    if "error" not in df.columns:
        raise ValueError(
            "The table has no 'error' column; load it with load_images(source, check=True)."
        )
    return df[df["error"].isna()].reset_index(drop=True).copy()


def _from_path(
    source: str | os.PathLike[str], label_col: str, path_col: str, split_col: str
) -> tuple[pd.DataFrame, str]:
    text = os.fspath(source)
    if isinstance(text, str) and text.lower().startswith(("http://", "https://")):
        raise ValueError(
            f"load_images does not download ({text!r}); cvnb works offline. Use the "
            "embedded default dataset, cvnb.datasets.digits(), or download the data "
            "yourself (for example with fastai's untar_data(URL)) and pass the folder."
        )
    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"Dataset source {text!r} does not exist; pass an existing folder, a .csv or "
            ".parquet file, or a DataFrame."
        )
    path = Path(os.path.abspath(path))
    if path.is_dir():
        return _from_folder(path), str(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path)
    elif suffix in {".parquet", ".pq"}:
        frame = pd.read_parquet(path)
    else:
        raise ValueError(
            f"Cannot load a dataset from {str(path)!r}: pass a folder, a .csv or .parquet "
            "file, or a DataFrame."
        )
    return _from_table(frame, path.parent, label_col, path_col, split_col), str(path)


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir())


def _from_folder(root: Path) -> pd.DataFrame:
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    if not entries:
        raise ValueError(f"Folder {str(root)!r} is empty; there are no images to load.")
    dirs = _visible_dirs(root)
    if not dirs:
        raise ValueError(
            f"Folder {str(root)!r} has no class folders. cvnb expects the ImageFolder "
            "layout root/<class>/<image> or root/<split>/<class>/<image>; move the images "
            "into one folder per class, or pass a CSV with path and label columns."
        )
    # With split folders present, other top-level folders cannot be classes (classes live
    # under the splits) and are ignored, e.g. the models/ folder that fastai saves into.
    split_dirs = [d for d in dirs if d.name.lower() in SPLIT_NAMES]
    rows: list[tuple[str, str, str | None]] = []
    if split_dirs:
        for split_dir in split_dirs:
            split = SPLIT_NAMES[split_dir.name.lower()]
            for class_dir in _visible_dirs(split_dir):
                rows.extend((p, class_dir.name, split) for p in _image_files(class_dir))
    else:
        for class_dir in dirs:
            rows.extend((p, class_dir.name, None) for p in _image_files(class_dir))
    if not rows:
        raise ValueError(
            f"Found no image files under {str(root)!r} (looked for extensions "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))} inside class folders)."
        )
    return pd.DataFrame(rows, columns=["path", "label", "split"]).astype({"split": object})


def _image_files(folder: Path) -> list[str]:
    found = []
    # followlinks=False: a symlink loop cannot hang the scan (a linked class folder still
    # works, as the walk starts at it).
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(
            os.path.join(dirpath, name)
            for name in filenames
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
        )
    return found


def _from_table(
    frame: pd.DataFrame, base: Path, label_col: str, path_col: str, split_col: str
) -> pd.DataFrame:
    missing = [c for c in (path_col, label_col) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"The table has no column {' or '.join(repr(c) for c in missing)}; its columns "
            f"are {[str(c) for c in frame.columns]}. Pass path_col=… and label_col=… to "
            "name the columns that hold the image paths and the labels."
        )
    if len(frame) == 0:
        raise ValueError("The table has no rows; there are no images to load.")
    for col in (path_col, label_col):
        empty = frame[col].isna()
        if empty.any():
            rows = frame.index[empty][:5].tolist()
            raise ValueError(
                f"{int(empty.sum())} rows have no value in column {col!r} (index {rows}…); "
                "fill them in or drop those rows."
            )
    paths = [os.path.abspath(base / Path(str(p)).expanduser()) for p in frame[path_col]]
    out = pd.DataFrame(
        {
            "path": paths,
            "label": [str(v) for v in frame[label_col]],
            "split": _normalized_splits(frame[split_col])
            if split_col in frame.columns
            else [None] * len(frame),
        }
    ).astype({"split": object})
    used = {path_col, label_col, split_col}
    extra = [c for c in frame.columns if c not in used and c not in COLUMNS]
    return pd.concat([out, frame[extra].reset_index(drop=True)], axis=1)


def _normalized_splits(values: pd.Series) -> list[str]:
    lowered = values.map(lambda v: str(v).strip().lower() if pd.notna(v) else v)
    unknown = sorted(
        {str(v) for v, low in zip(values, lowered, strict=True) if low not in SPLIT_NAMES}
    )
    if unknown:
        raise ValueError(
            f"Unknown split values {unknown[:10]} in column {values.name!r}; use train, "
            "valid (or val/validation) or test, in any case."
        )
    return [SPLIT_NAMES[v] for v in lowered]


def _stratified_split(labels: list[str], *, valid_pct: float, seed: int) -> list[str]:
    """Seeded per-class split of ``labels`` into "train"/"valid" (one entry per label).

    sklearn's ``train_test_split(stratify=…)`` is not used: it refuses classes with a
    single member and small valid sets (fewer valid images than classes), and it may give a
    small class no valid image at all. Here every class with two or more images gets at
    least one image in each split, and a single-image class goes to train.
    """
    rng = np.random.default_rng(seed)
    splits = np.full(len(labels), "train", dtype=object)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    for label in sorted(by_class):
        members = np.asarray(by_class[label])
        n = len(members)
        if valid_pct == 0 or n < 2:
            continue
        n_valid = min(max(int(np.floor(n * valid_pct + 0.5)), 1), n - 1)
        splits[rng.permutation(members)[:n_valid]] = "valid"
    return splits.tolist()


def _carve_valid(table: pd.DataFrame, *, valid_pct: float, seed: int) -> str | None:
    """Split ``valid`` out of ``train`` in place when the source has train but no valid.

    A ``root/train`` + ``root/test`` folder is common; training needs a validation split and
    the test split must stay untouched, so ``valid_pct`` of each class of train becomes
    valid. Returns what was done, in words (None when nothing was).
    """
    splits = set(table["split"])
    if "valid" in splits or "train" not in splits or valid_pct == 0:
        return None
    train = table["split"] == "train"
    table.loc[train, "split"] = _stratified_split(
        table.loc[train, "label"].tolist(), valid_pct=valid_pct, seed=seed
    )
    n_valid = int((table["split"] == "valid").sum())
    return (
        f"The source has no valid split: {n_valid} of {int(train.sum())} train images "
        f"({valid_pct:.0%} of each class, seed {seed}) became valid"
        + (", and test is left as it is." if "test" in splits else ".")
        + " Pass valid_pct=… and seed=… to change this, or add a valid folder."
    )


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    order = table["split"].map(SPLIT_ORDER)
    keyed = table.assign(_split_order=order)
    keyed = keyed.sort_values(["_split_order", "label", "path"], kind="stable")
    return keyed.drop(columns="_split_order").reset_index(drop=True)


def _with_checks(table: pd.DataFrame, *, check: bool, max_pixels: int | None) -> pd.DataFrame:
    if check:
        results = _check_all(table["path"].tolist(), max_pixels)
    else:
        empty: dict[str, Any] = {"width": None, "height": None, "mode": None, "format": None}
        results = [(empty, None)] * len(table)
    checked = pd.DataFrame(
        {
            "width": pd.array([m["width"] for m, _ in results], dtype="Int64"),
            "height": pd.array([m["height"] for m, _ in results], dtype="Int64"),
            "mode": pd.Series([m["mode"] for m, _ in results], dtype=object),
            "format": pd.Series([m["format"] for m, _ in results], dtype=object),
            "error": pd.Series([reason for _, reason in results], dtype=object),
        }
    )
    base = table[["path", "label", "split"]].astype({"split": str})
    extra = table.drop(columns=["path", "label", "split"])
    return pd.concat([base, checked, extra], axis=1)


def _check_all(paths: list[str], max_pixels: int | None) -> list[tuple[dict[str, Any], str | None]]:
    from tqdm.auto import tqdm  # lazy: keeps `import cvnb.data` cheap

    def one(path: str) -> tuple[dict[str, Any], str | None]:
        return _check(path, max_pixels)

    bar = tqdm(total=len(paths), desc="Checking images", disable=len(paths) <= _PROGRESS_MIN)
    # PIL releases the GIL while decoding, so threads overlap file reads and decodes.
    workers = 1 if len(paths) < _THREADS_MIN else min(8, os.cpu_count() or 1)
    results = []
    with warnings.catch_warnings():
        # Set once here rather than per file: check_image's own filter is not thread-safe.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            if workers == 1:
                for path in paths:
                    results.append(one(path))
                    bar.update()
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    for result in pool.map(one, paths):
                        results.append(result)
                        bar.update()
        finally:
            bar.close()
    return results

"""Fixtures that build real image files, broken and odd ones included, in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._images import (
    build_class_folder,
    make_16bit_png,
    make_cmyk_jpeg,
    make_exif_rotated_jpeg,
    make_la_png,
    make_palette_png,
    make_rgba_png,
    make_text_as_jpg,
    make_truncated_jpeg,
    make_zero_byte,
    save_jpeg,
)


@pytest.fixture
def odd_files(tmp_path: Path) -> dict[str, Path]:
    """One file of each odd or broken kind, by name."""
    d = tmp_path / "odd"
    return {
        "good": save_jpeg(d / "good.jpg"),
        "truncated": make_truncated_jpeg(d / "truncated.jpg"),
        "zero": make_zero_byte(d / "zero.jpg"),
        "text": make_text_as_jpg(d / "text.jpg"),
        "cmyk": make_cmyk_jpeg(d / "cmyk.jpg"),
        "16bit": make_16bit_png(d / "sixteen.png"),
        "rgba": make_rgba_png(d / "rgba.png"),
        "palette": make_palette_png(d / "palette.png"),
        "la": make_la_png(d / "la.png"),
        "exif": make_exif_rotated_jpeg(d / "exif.jpg"),
    }


@pytest.fixture
def broken_folder(tmp_path: Path) -> Path:
    """Class-folder layout: three good images per class plus one broken file of each kind,
    and files that are not images by extension (ignored)."""
    root = build_class_folder(tmp_path / "broken", {"cat": 3, "dog": 3})
    make_truncated_jpeg(root / "cat" / "truncated.jpg")
    make_zero_byte(root / "dog" / "zero.jpg")
    make_text_as_jpg(root / "dog" / "text.JPG")
    (root / "cat" / "notes.txt").write_text("not an image extension")
    save_jpeg(root / "cat" / ".hidden.jpg")
    return root


@pytest.fixture
def split_folder(tmp_path: Path) -> Path:
    """root/<split>/<class>/ with split folder names in odd case."""
    root = tmp_path / "splits"
    build_class_folder(root / "Train", {"a": 3, "b": 2})
    build_class_folder(root / "VAL", {"a": 1, "b": 1})
    return root


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """root/<class>/ without splits: three classes of 10, 5 and 2 images and one single."""
    return build_class_folder(tmp_path / "classes", {"ant": 10, "bee": 5, "cow": 2, "owl": 1})

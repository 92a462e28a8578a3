"""Builders of real image files, broken and odd ones included, for the data tests."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def gradient_rgb(width: int = 64, height: int = 48) -> Image.Image:
    """A smooth RGB image that survives JPEG compression recognisably."""
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :].repeat(height, axis=0)
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None].repeat(width, axis=1)
    rgb = np.stack([x, y, 255 - x], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb)


def save_jpeg(path: Path, image: Image.Image | None = None, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (image or gradient_rgb()).save(path, format="JPEG", quality=90, **kwargs)
    return path


def make_truncated_jpeg(path: Path) -> Path:
    save_jpeg(path, gradient_rgb(128, 96))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_zero_byte(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def make_text_as_jpg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not an image, just text with a .jpg name\n")
    return path


def make_cmyk_jpeg(path: Path) -> Path:
    # Pure cyan (C=255) as CMYK; reads back as (0, 255, 255) in RGB.
    return save_jpeg(path, Image.new("CMYK", (32, 24), (255, 0, 0, 0)))


def make_16bit_png(path: Path) -> Path:
    gradient = np.linspace(0, 65535, 64 * 32).reshape(32, 64).astype(np.uint16)
    image = Image.fromarray(gradient)
    assert image.mode == "I;16"
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def make_rgba_png(path: Path) -> Path:
    """Left half opaque red, right half fully transparent (stored colour: black)."""
    image = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 10, 10))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def make_palette_png(path: Path) -> Path:
    """Palette image: left half blue, right half green; no transparency."""
    image = Image.new("P", (20, 10), 0)
    image.putpalette([0, 0, 255, 0, 255, 0] + [0, 0, 0] * 254)
    image.paste(1, (10, 0, 20, 10))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def make_la_png(path: Path) -> Path:
    """Grey level 100, opaque on the left, transparent on the right."""
    image = Image.new("LA", (20, 10), (100, 255))
    image.paste((100, 0), (10, 0, 20, 10))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def make_exif_rotated_jpeg(path: Path) -> Path:
    """Stored 60×40 with a red top-left corner and EXIF orientation 6 (rotate 90° CW)."""
    image = Image.new("RGB", (60, 40), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 15, 15))
    exif = Image.Exif()
    exif[0x0112] = 6
    return save_jpeg(path, image, exif=exif.tobytes())


def build_class_folder(root: Path, counts: dict[str, int]) -> Path:
    for label, n in counts.items():
        for i in range(n):
            save_jpeg(root / label / f"{label}_{i:03d}.jpg", gradient_rgb(16 + i, 12))
    return root


def make_huge_header_png(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width × height: a decompression bomb's first step.

    Only the header is read before the size guard refuses it, so the test stays fast.
    """
    buffer = io.BytesIO()
    Image.new("1", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), data (13), crc (4)
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 21]))
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", crc)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path

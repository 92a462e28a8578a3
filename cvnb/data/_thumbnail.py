"""Encode an image as a small PNG/JPEG thumbnail for display in a widget.

Pure logic: no ipywidgets, traitlets or IPython here. Widgets send the bytes
this returns to the browser as binary buffers, never as base64 strings in HTML.
"""

from __future__ import annotations

import io
import math
import os
from typing import TYPE_CHECKING

from PIL import Image

from ._read import read_image

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["encode_thumbnail"]

_FORMATS = {"JPEG": "JPEG", "JPG": "JPEG", "PNG": "PNG"}


def encode_thumbnail(
    image: Image.Image | str | os.PathLike[str] | Path,
    *,
    max_size: int = 160,
    fmt: str = "JPEG",
    quality: int = 85,
    min_size: int = 64,
) -> bytes:
    """Encode an image as a size-capped PNG or JPEG thumbnail.

        The aspect ratio is kept and the longest side is at most ``max_size``. Tiny images (such
        as 8×8 scanned digits) would be unreadable at their own size, so an image whose longest
        side is below ``min_size`` is upscaled by a whole factor with nearest-neighbour
        resampling (pixels stay crisp squares) until its longest side reaches ``min_size``,
        never beyond ``max_size``. Images between the two are encoded at their own size.

        Args:
            image: A PIL image, or the path of an image file (read with
                :func:`cvnb.data.read_image`, which applies EXIF orientation and normalizes the
                mode to RGB).
            max_size: Longest side of the thumbnail in pixels; larger images are shrunk with
                Lanczos resampling.
            fmt: ``"JPEG"`` (default; small for photos) or ``"PNG"`` (lossless, keeps alpha;
                better for line art and tiny images). Case-insensitive; ``"JPG"`` is accepted.
            quality: JPEG quality, 1–95. Ignored for PNG.
            min_size: Longest side that tiny images are upscaled to (see above); 0 or 1
                disables upscaling.

        Returns:
            The encoded bytes (starting with ``b"\\xff\\xd8"`` for JPEG, ``b"\\x89PNG"`` for PNG).

        Raises:
            ValueError: If ``fmt``, ``max_size`` or ``quality`` is out of range.
            cvnb.data.ImageReadError: If ``image`` is a path that cannot be read as an image.

        Example:
            >>> from PIL import Image

    from ._read import read_image
            >>> data = encode_thumbnail(Image.new("RGB", (640, 480)), max_size=160)
            >>> Image.open(io.BytesIO(data)).size
            (160, 120)
    """
    key = fmt.upper()
    if key not in _FORMATS:
        raise ValueError(f"fmt must be 'JPEG' or 'PNG', got {fmt!r}.")
    fmt = _FORMATS[key]
    if max_size < 1:
        raise ValueError(f"max_size must be a positive number of pixels, got {max_size}.")
    if not 1 <= quality <= 95:
        raise ValueError(f"quality must be in 1..95 (JPEG quality), got {quality}.")

    # One normalization for paths and PIL images alike (EXIF, CMYK, 16-bit, alpha on white).
    thumb = _resize(read_image(image), max_size=max_size, min_size=min_size)
    buffer = io.BytesIO()
    if fmt == "JPEG":
        thumb.save(buffer, format="JPEG", quality=quality)
    else:
        thumb.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _resize(image: Image.Image, *, max_size: int, min_size: int) -> Image.Image:
    width, height = image.size
    longest = max(width, height)
    if longest > max_size:
        scale = max_size / longest
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # reducing_gap trades a little quality for a large speed-up on big photos.
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if 0 < longest < min_size:
        factor = min(math.ceil(min_size / longest), max_size // longest)
        if factor >= 2:
            return image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    return image

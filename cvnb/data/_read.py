"""Read one image file robustly: the single place where cvnb decodes an image.

Pure logic, no widget imports. Nothing here changes process-wide state: PIL's
``ImageFile.LOAD_TRUNCATED_IMAGES`` and ``Image.MAX_IMAGE_PIXELS`` are left as they are, so
the functions are safe to call from fastai DataLoader worker processes (and threads).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "check_image",
    "read_image",
]

#: Largest image (width × height) read by default; the same number as PIL's own
#: ``Image.MAX_IMAGE_PIXELS`` (about 9459 × 9459), above which PIL warns of a possible
#: decompression bomb.
DEFAULT_MAX_PIXELS = 89_478_485

#: Lowercase file extensions (with the dot) that :func:`cvnb.data.load_images` counts as
#: image files when it scans a folder.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)

_WHITE = (255, 255, 255)


class ImageReadError(ValueError):
    """An image file that cannot be read, with the reason and what to do about it.

    Attributes:
        path: The file that was being read, as given.
        reason: A short reason (for example ``"file is empty (0 bytes)"``); this is what
            :func:`cvnb.data.load_images` stores in its ``error`` column.
        hint: What the user can do about it.

    Example:
        >>> try:
        ...     read_image("no/such/file.jpg")
        ... except ImageReadError as err:
        ...     print(err.reason)
        file not found
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, hint: str = "") -> None:
        self.path = os.fspath(path)
        self.reason = reason
        self.hint = hint
        message = f"Cannot read image {self.path!r}: {reason}."
        super().__init__(f"{message} {hint}" if hint else message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the exception picklable, so that it crosses from a DataLoader worker
        # process to the main process intact.
        return (type(self), (self.path, self.reason, self.hint))


def read_image(
    path: str | os.PathLike[str] | Image.Image, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Read an image file as a fully loaded RGB image.

    ``path`` may also be an already opened ``PIL.Image.Image``: it gets the same EXIF
    orientation and mode normalization, so every way into a model sees the same pixels.

    EXIF orientation is applied (a phone photo stored sideways comes out upright), and
    every mode is normalized to 8-bit RGB: CMYK and palette images are converted;
    images with transparency (RGBA, LA, palette or greyscale with a transparent colour)
    are composited on white; 16-bit and 32-bit greyscale (``I;16``, ``I;16B``, ``I``) are
    scaled to 8 bits by value range rather than clipped (a 16-bit PNG does not come out
    white); float images (``F``) in 0–1 or 0–255 are scaled likewise. Multi-frame files
    (GIF, TIFF) give their first frame.

    The file is decoded completely, so a truncated or corrupt file raises here instead of
    yielding a silently padded image. The process-wide PIL settings are left alone.

    Args:
        path: Path of the image file.
        max_pixels: Refuse images with more than this many pixels (width × height), a
            guard against decompression bombs: small files that expand to gigabytes.
            ``None`` turns cvnb's guard off. PIL's own process-wide limit
            (``PIL.Image.MAX_IMAGE_PIXELS``, an error above twice its value) still
            applies; raise that too to read larger images.

    Returns:
        A loaded ``PIL.Image.Image`` in mode ``"RGB"``, detached from the file.

    Raises:
        ImageReadError: If the file is missing, empty, not an image, truncated or
            corrupt, or larger than ``max_pixels``. ``err.reason`` says which.

    Example:
        >>> img = read_image("photo.jpg")  # doctest: +SKIP
        >>> img.mode
        'RGB'
    """
    with warnings.catch_warnings():
        # cvnb's own max_pixels guard replaces PIL's warning with an error that says what
        # to do. (catch_warnings is not thread-safe before Python 3.14; the worst a race
        # can do is leave this one warning ignored, which is harmless here.)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if isinstance(path, Image.Image):
            return _to_rgb(_exif_transpose(path), "<PIL image>")
        return _decode(path, max_pixels)[0]


def check_image(
    path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[dict[str, Any], str | None]:
    """Decode one image file completely and report its metadata or why it is unreadable.

    Runs exactly what :func:`read_image` runs, so a file that passes here reads there.

    Args:
        path: Path of the image file.
        max_pixels: As in :func:`read_image`.

    Returns:
        ``(info, reason)``. ``info`` is a dict with keys ``width`` and ``height`` (ints, the
        size after EXIF orientation; ``None`` when unreadable), ``mode`` (the mode stored in
        the file, such as ``"CMYK"`` or ``"I;16"``) and ``format`` (such as ``"JPEG"``);
        ``mode`` and ``format`` are ``None`` when the file could not be identified.
        ``reason`` is ``None`` for a readable file, else the short reason of the
        :class:`ImageReadError` that :func:`read_image` would raise.

    Example:
        >>> info, reason = check_image("photo.jpg")  # doctest: +SKIP
        >>> info, reason
        ({'width': 640, 'height': 480, 'mode': 'RGB', 'format': 'JPEG'}, None)
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return _check(path, max_pixels)


def _check(
    path: str | os.PathLike[str], max_pixels: int | None
) -> tuple[dict[str, Any], str | None]:
    """check_image without the warnings filter (load_images sets one around its pool)."""
    meta: dict[str, Any] = {"width": None, "height": None, "mode": None, "format": None}
    try:
        _, meta = _decode(path, max_pixels, meta)
    except ImageReadError as err:
        return {**meta, "width": None, "height": None}, err.reason
    return meta, None


def _decode(
    path: str | os.PathLike[str],
    max_pixels: int | None,
    meta: dict[str, Any] | None = None,
) -> tuple[Image.Image, dict[str, Any]]:
    """Open, fully decode, orient and normalize; fills ``meta`` as it learns things."""
    if meta is None:
        meta = {"width": None, "height": None, "mode": None, "format": None}
    _check_file(path)
    try:
        with Image.open(path) as im:
            meta["mode"], meta["format"] = im.mode, im.format
            _check_size(path, im.size, max_pixels)
            try:
                im.load()
            except MemoryError:
                raise
            except Exception as exc:  # PIL decoders raise many types: OSError, SyntaxError…
                raise _corrupt(path, exc) from exc
            oriented = _exif_transpose(im)
            rgb = _to_rgb(oriented, path)
    except UnidentifiedImageError as exc:
        if _has_image_signature(path):
            raise _corrupt(path, exc) from exc
        raise ImageReadError(
            path,
            "not an image file (PIL cannot identify its contents)",
            "Check what it really is (a renamed text or HTML file is common); convert it "
            "to PNG or JPEG, or leave it out.",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            path,
            f"too large: decompression-bomb guard of PIL ({exc})",
            "If you trust this file, raise PIL.Image.MAX_IMAGE_PIXELS and pass a larger "
            "max_pixels=.",
        ) from exc
    except (ImageReadError, MemoryError):
        raise
    except OSError as exc:
        raise ImageReadError(
            path, f"cannot open the file ({exc.strerror or exc})", "Check the file's permissions."
        ) from exc
    except Exception as exc:  # a broken header can make a plugin raise anything
        raise _corrupt(path, exc) from exc
    meta["width"], meta["height"] = rgb.size
    return rgb, meta


def _check_file(path: str | os.PathLike[str]) -> None:
    try:
        size = os.stat(path).st_size
    except FileNotFoundError as exc:
        raise ImageReadError(
            path, "file not found", "Check the path, or reload the table if files moved."
        ) from exc
    except OSError as exc:
        raise ImageReadError(path, f"cannot access the file ({exc.strerror or exc})") from exc
    if os.path.isdir(path):
        raise ImageReadError(path, "is a folder, not an image file")
    if size == 0:
        raise ImageReadError(
            path,
            "file is empty (0 bytes)",
            "Copy or download it again, or leave it out.",
        )


def _check_size(
    path: str | os.PathLike[str], size: tuple[int, int], max_pixels: int | None
) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageReadError(
            path,
            f"too large: {width}×{height} = {width * height:,} pixels is more than "
            f"max_pixels={max_pixels:,} (a guard against decompression bombs)",
            "If you trust this file, pass a larger max_pixels= (or max_pixels=None).",
        )


def _corrupt(path: str | os.PathLike[str], exc: BaseException) -> ImageReadError:
    detail = str(exc) or type(exc).__name__
    what = "truncated" if "truncated" in detail.lower() else "corrupt"
    return ImageReadError(
        path,
        f"file is {what} ({detail})",
        "Copy or download it again, or leave it out; cvnb does not pad broken images.",
    )


# Leading bytes of the formats in IMAGE_EXTENSIONS: a file that starts like an image but that
# PIL cannot open has a broken header, which is worth telling apart from "not an image".
_SIGNATURES = (
    b"\xff\xd8",
    b"\x89PNG",
    b"GIF8",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF",
    b"P5",
    b"P6",
)


def _has_image_signature(path: str | os.PathLike[str]) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    if head.startswith(b"RIFF"):
        return head[8:12] == b"WEBP"
    return head.startswith(_SIGNATURES)


def _exif_transpose(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        # A damaged EXIF block must not make intact pixels unreadable; the orientation
        # tag is the only thing lost.
        return im


def _to_rgb(im: Image.Image, path: str | os.PathLike[str]) -> Image.Image:
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I;16") or mode in {"I", "F"}:
        return _scale_to_8bit(np.asarray(im)).convert("RGB")
    if "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    try:
        return im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageReadError(
            path,
            f"unsupported image mode {mode!r} ({exc})",
            "Convert it to an 8-bit RGB PNG or JPEG.",
        ) from exc


def _scale_to_8bit(arr: np.ndarray) -> Image.Image:
    """Map 16/32-bit integer or float greyscale to 8 bits by the range its type implies.

    Values are scaled by the nominal range (0–65535 for data that fits 16 bits, 0–1 for
    floats that fit it) rather than stretched per image, so a dark 16-bit scan stays dark.
    Data outside every nominal range (negative or beyond 16 bits) is stretched min–max.
    """
    data = arr.astype(np.float64)
    if data.size == 0:
        return Image.fromarray(data.astype(np.uint8))
    low, high = float(np.nanmin(data)), float(np.nanmax(data))
    if low >= 0 and np.issubdtype(arr.dtype, np.floating) and high <= 1.0:
        scaled = data * 255.0
    elif low >= 0 and high <= 255 and not np.issubdtype(arr.dtype, np.uint16):
        scaled = data
    elif low >= 0 and high <= 65535:
        scaled = data / 257.0
    else:
        scaled = (data - low) / (high - low) * 255.0 if high > low else np.zeros_like(data)
    scaled = np.nan_to_num(scaled, nan=0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))

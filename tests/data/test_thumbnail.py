"""encode_thumbnail (cvnb/data/_thumbnail.py): sizes, formats, normalization, purity."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image

from cvnb.data import encode_thumbnail

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("size", "expected"),
    [((640, 480), (160, 120)), ((100, 400), (40, 160)), ((160, 90), (160, 90))],
)
def test_keeps_aspect_and_caps_longest_side(size, expected):
    data = encode_thumbnail(Image.new("RGB", size, (10, 200, 30)), max_size=160)
    assert data.startswith(JPEG_MAGIC)
    assert _decode(data).size == expected


def test_tiny_images_are_upscaled_crisply():
    digit = Image.new("L", (8, 8), 0)
    digit.putpixel((3, 3), 255)
    thumb = _decode(encode_thumbnail(digit, fmt="PNG"))
    assert thumb.size == (64, 64)
    # Nearest neighbour: the one bright pixel becomes an 8x8 block of exactly 255.
    assert thumb.getpixel((3 * 8, 3 * 8)) == (255, 255, 255)
    assert thumb.getpixel((3 * 8 + 7, 3 * 8 + 7)) == (255, 255, 255)
    assert thumb.getpixel((2 * 8 + 7, 3 * 8)) == (0, 0, 0)


def test_upscaling_never_exceeds_max_size():
    thumb = _decode(encode_thumbnail(Image.new("RGB", (10, 5)), max_size=32, fmt="PNG"))
    assert max(thumb.size) <= 32
    assert thumb.size == (30, 15)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "I;16", "1"])
@pytest.mark.parametrize(("fmt", "magic"), [("JPEG", JPEG_MAGIC), ("png", PNG_MAGIC)])
def test_any_mode_encodes(mode, fmt, magic):
    data = encode_thumbnail(Image.new(mode, (120, 80)), fmt=fmt)
    assert data.startswith(magic)
    assert _decode(data).size == (120, 80)


def test_jpeg_flattens_transparency_onto_white():
    clear = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    r, g, b = _decode(encode_thumbnail(clear)).convert("RGB").getpixel((50, 50))
    assert min(r, g, b) > 245


def test_reads_paths(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (400, 300), (200, 50, 50)).save(path)
    thumb = _decode(encode_thumbnail(path, max_size=100))
    assert thumb.size == (100, 75)
    assert thumb.mode == "RGB"


def test_unreadable_path_raises_image_read_error(tmp_path):
    from cvnb.data import ImageReadError

    path = tmp_path / "broken.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError):
        encode_thumbnail(path)


@pytest.mark.parametrize(
    "kwargs", [{"fmt": "GIF"}, {"max_size": 0}, {"quality": 0}, {"quality": 101}]
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        encode_thumbnail(Image.new("RGB", (10, 10)), **kwargs)


def test_module_is_pure_logic():
    code = (
        "import sys, cvnb.data._thumbnail; "
        "bad = [m for m in ('ipywidgets', 'traitlets', 'IPython') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""

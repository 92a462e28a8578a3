"""read_image and check_image on real, odd and broken files built in tmp_path."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from cvnb.data import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, ImageReadError, check_image, read_image

from ._images import gradient_rgb, make_huge_header_png, save_jpeg


def test_good_jpeg_is_loaded_rgb_and_detached(odd_files):
    img = read_image(odd_files["good"])
    assert img.mode == "RGB"
    assert img.size == (64, 48)
    odd_files["good"].unlink()  # fully loaded: the file is no longer needed
    assert np.asarray(img).shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("truncated", "truncated"),
        ("zero", "empty"),
        ("text", "not an image"),
    ],
)
def test_broken_files_raise_with_reason(odd_files, kind, words):
    with pytest.raises(ImageReadError) as info:
        read_image(odd_files[kind])
    err = info.value
    assert isinstance(err, ValueError)
    assert words in err.reason
    assert err.path == str(odd_files[kind])
    assert str(odd_files[kind]) in str(err)
    assert err.hint and err.hint in str(err)


def test_truncated_jpeg_is_reported_not_padded(odd_files):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(odd_files["truncated"])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # no process-wide change


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="file not found") as info:
        read_image(tmp_path / "nope.jpg")
    assert info.value.reason == "file not found"


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_broken_header_is_corrupt_not_unknown(tmp_path):
    path = tmp_path / "header.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(ImageReadError, match="corrupt"):
        read_image(path)


def test_cmyk_becomes_rgb(odd_files):
    img = read_image(odd_files["cmyk"])
    assert img.mode == "RGB"
    r, g, b = img.getpixel((16, 12))
    assert r < 40 and g > 215 and b > 215  # cyan


def test_16bit_png_is_scaled_not_clipped(odd_files):
    assert Image.open(odd_files["16bit"]).mode == "I;16"
    arr = np.asarray(read_image(odd_files["16bit"]))
    assert arr.shape == (32, 64, 3)
    assert arr.min() <= 5 and arr.max() >= 250
    assert 100 < arr.mean() < 155  # a gradient, not all white
    assert len(np.unique(arr)) > 100


@pytest.mark.parametrize("mode", ["I", "I;16B", "F"])
def test_wide_greyscale_modes(tmp_path, mode):
    values = np.linspace(0, 1, 16 * 8).reshape(8, 16)
    if mode == "F":
        img = Image.fromarray(values.astype(np.float32))
    elif mode == "I":
        img = Image.fromarray((values * 65535).astype(np.int32))
    else:
        img = Image.frombytes("I;16B", (16, 8), (values * 65535).astype(">u2").tobytes())
    assert img.mode == mode
    path = tmp_path / "wide.tif"
    img.save(path)
    assert Image.open(path).mode == mode
    arr = np.asarray(read_image(path))
    assert arr.min() <= 2 and arr.max() >= 253


def test_rgba_is_composited_on_white(odd_files):
    img = read_image(odd_files["rgba"])
    assert img.mode == "RGB"
    assert img.getpixel((2, 5)) == (255, 0, 0)
    assert img.getpixel((15, 5)) == (255, 255, 255)  # transparent → white, not black


def test_palette_png(odd_files):
    img = read_image(odd_files["palette"])
    assert img.mode == "RGB"
    assert img.getpixel((2, 5)) == (0, 0, 255)
    assert img.getpixel((15, 5)) == (0, 255, 0)


def test_palette_with_transparency_is_composited_on_white(tmp_path):
    img = Image.new("P", (4, 2), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    img.paste(0, (2, 0, 4, 2))
    path = tmp_path / "ptrans.png"
    img.save(path, transparency=0)
    out = read_image(path)
    assert out.getpixel((0, 0)) == (255, 0, 0)
    assert out.getpixel((3, 0)) == (255, 255, 255)


def test_la_png(odd_files):
    img = read_image(odd_files["la"])
    assert img.getpixel((2, 5)) == (100, 100, 100)
    assert img.getpixel((15, 5)) == (255, 255, 255)


def test_bilevel_image(tmp_path):
    path = tmp_path / "one.png"
    Image.new("1", (8, 8), 1).save(path)
    assert read_image(path).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(odd_files):
    assert Image.open(odd_files["exif"]).size == (60, 40)
    img = read_image(odd_files["exif"])
    assert img.size == (40, 60)
    # Orientation 6 means "rotate 90° clockwise to view": the stored top-left corner
    # ends up top-right.
    r, _, b = img.getpixel((35, 4))
    assert r > 200 and b < 60
    r, _, b = img.getpixel((4, 4))
    assert b > 200 and r < 60


def test_decompression_bomb_refused_with_max_pixels(tmp_path):
    path = save_jpeg(tmp_path / "big.jpg", gradient_rgb(20, 20))
    with pytest.raises(ImageReadError, match="max_pixels") as info:
        read_image(path, max_pixels=100)
    assert "400" in info.value.reason
    assert read_image(path, max_pixels=400).size == (20, 20)
    assert read_image(path, max_pixels=None).size == (20, 20)


def test_default_max_pixels_matches_pil():
    assert DEFAULT_MAX_PIXELS == 89_478_485 == Image.MAX_IMAGE_PIXELS


def test_check_image_metadata(odd_files):
    info, reason = check_image(odd_files["exif"])
    assert reason is None
    assert info == {"width": 40, "height": 60, "mode": "RGB", "format": "JPEG"}
    info, reason = check_image(odd_files["16bit"])
    assert (info["mode"], info["format"], reason) == ("I;16", "PNG", None)


def test_check_image_reports_instead_of_raising(odd_files):
    info, reason = check_image(odd_files["truncated"])
    assert "truncated" in reason
    assert info["width"] is None and info["height"] is None
    assert info["format"] == "JPEG"  # the header was identified
    info, reason = check_image(odd_files["text"])
    assert "not an image" in reason
    assert info == {"width": None, "height": None, "mode": None, "format": None}


def test_error_pickles_for_dataloader_workers(odd_files):
    with pytest.raises(ImageReadError) as info:
        read_image(odd_files["zero"])
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.path, copy.reason, str(copy)) == (
        info.value.path,
        info.value.reason,
        str(info.value),
    )


def test_image_extensions():
    assert isinstance(IMAGE_EXTENSIONS, frozenset)
    assert {".jpg", ".jpeg", ".png", ".tif", ".webp", ".pgm"} <= IMAGE_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in IMAGE_EXTENSIONS)


def test_import_loads_no_widget_stack():
    code = (
        "import sys, cvnb.data\n"
        "bad = {'ipywidgets', 'IPython', 'traitlets', 'matplotlib.pyplot'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_huge_image_refused_before_decoding_without_pil_warning(tmp_path):
    path = make_huge_header_png(tmp_path / "bomb.png", 9500, 9500)  # just over the default
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's DecompressionBombWarning must not leak
        with pytest.raises(ImageReadError, match=r"max_pixels=89,478,485"):
            read_image(path)
        info, reason = check_image(path)
    assert "90,250,000 pixels" in reason and info["format"] == "PNG"
    # Beyond twice PIL's own limit, PIL refuses first; the message still says what to do.
    path = make_huge_header_png(tmp_path / "bigger.png", 20_000, 20_000)
    with pytest.raises(ImageReadError, match=r"MAX_IMAGE_PIXELS.*max_pixels"):
        read_image(path, max_pixels=None)

"""The embedding follows the data; photos are decoded reduced (JPEG draft) at their own size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from shared_data import shared_dataset

from cvnb.data import load_images, read_image
from cvnb.quality._embed_choice import embedding_for
from cvnb.quality._image_stats import image_stats
from cvnb.quality._measure import _read_reduced


def test_photos_get_head_features_at_224_and_small_images_multi_stage_at_96(digits_table):
    flowers = load_images(shared_dataset("flowers"), check=False)
    assert embedding_for(flowers) == {"size": 224, "features": "head"}
    no_sizes = flowers.drop(columns=["width", "height"])  # read from the files' headers
    assert embedding_for(no_sizes) == {"size": 224, "features": "head"}
    assert embedding_for(digits_table) == {"size": 96, "features": "stages"}
    crops = load_images(shared_dataset("coco-crops"), check=False)
    assert embedding_for(crops) == {"size": 96, "features": "stages"}  # median side 110 px


@pytest.fixture(scope="module")
def large_jpeg(tmp_path_factory):
    """A real photo enlarged to 1,600 px, as a JPEG turned by EXIF (orientation 6)."""
    from sklearn.datasets import load_sample_images

    photo = Image.fromarray(load_sample_images().images[1]).resize((1600, 1068))
    folder = tmp_path_factory.mktemp("draft")
    plain, turned = folder / "plain.jpg", folder / "turned.jpg"
    photo.save(plain, quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.save(turned, quality=92, exif=exif)
    return plain, turned


def test_large_jpegs_are_decoded_reduced_but_measured_at_their_own_size(large_jpeg):
    plain, turned = large_jpeg
    small, size = _read_reduced(str(plain), 224)
    assert size == (1600, 1068) and small.size == (400, 267)  # 1/4: still ≥ 256 and ≥ 224
    full = read_image(plain)
    a, b = image_stats(small, size), image_stats(full)
    assert (a["width"], a["height"]) == (b["width"], b["height"])
    for key in ("luma_p5", "luma_p50", "luma_p99", "colourfulness"):
        assert a[key] == pytest.approx(b[key], abs=0.02), key
    assert a["sharpness"] == pytest.approx(b["sharpness"], rel=0.2)
    small, size = _read_reduced(str(turned), 224)
    assert size == (1068, 1600) and small.size[0] < small.size[1], "EXIF orientation applied"
    assert _read_reduced(str(plain), 600) is None, "no reduction keeps 600 px: full decode"


def test_a_truncated_jpeg_falls_back_to_read_image(large_jpeg, tmp_path):
    plain, _ = large_jpeg
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(plain.read_bytes()[: plain.stat().st_size // 2])
    assert _read_reduced(str(cut), 224) is None
    assert np.isfinite(image_stats(read_image(plain))["sharpness"])

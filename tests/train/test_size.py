"""default_img_size: the backbone's native side for photos, near their own size for tiny scans."""

from __future__ import annotations

import pandas as pd
import pytest

from cvnb.data import load_images
from cvnb.train import default_img_size, make_learner
from cvnb.train._size import native_img_size


def _table(short: int, n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"width": [short * 2] * n, "height": [short] * n, "error": [None] * n})


def test_native_size_comes_from_the_backbone_config():
    assert native_img_size("tf_efficientnet_lite0") == 224
    assert native_img_size("test_efficientnet") == 160


@pytest.mark.parametrize(
    ("short", "side"), [(8, 48), (30, 48), (40, 48), (50, 64), (56, 224), (110, 224), (500, 224)]
)
def test_photos_get_the_native_side_tiny_scans_their_own(short, side):
    assert default_img_size(_table(short)) == side


def test_unreadable_rows_and_missing_sizes_do_not_count():
    table = pd.concat([_table(8), _table(400, n=9).assign(error="truncated")])
    assert default_img_size(table) == 48
    assert default_img_size(pd.DataFrame({"path": ["a.jpg"]})) == 224


def test_make_learner_picks_it(digits_subset, coco_crops):
    assert make_learner(digits_subset, bs=16).cvnb_config.img_size == 48
    photos = load_images(coco_crops)
    assert default_img_size(photos) == 224
    assert make_learner(digits_subset, img_size=32, bs=16).cvnb_config.img_size == 32

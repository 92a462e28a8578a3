"""Resize policies: output shape, and which part of the image each one keeps."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

from cvnb.augment import RESIZE_POLICIES
from cvnb.augment._resize import resize_steps, resize_transform

RED, GREEN, GREY = (255, 0, 0), (0, 255, 0), (128, 128, 128)


def _framed(height: int = 40, width: int = 80) -> np.ndarray:
    """Grey image with a 2-px red frame, a green centre square and blue side bands."""
    image = np.full((height, width, 3), GREY, np.uint8)
    image[:, 2:12] = (0, 0, 255)
    image[:, -12:-2] = (0, 0, 255)
    cy, cx = height // 2, width // 2
    image[cy - 4 : cy + 4, cx - 4 : cx + 4] = GREEN
    image[:2], image[-2:], image[:, :2], image[:, -2:] = RED, RED, RED, RED
    return image


def _is(pixels: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> np.ndarray:
    return np.all(np.abs(pixels.astype(int) - colour) <= tol, axis=-1)


@pytest.mark.parametrize("policy", RESIZE_POLICIES)
@pytest.mark.parametrize("shape", [(40, 80), (80, 40), (50, 50), (300, 120)])
def test_every_policy_gives_the_square_size(policy, shape):
    image = np.zeros((*shape, 3), np.uint8)
    for crop in ("center", "random"):
        out = resize_transform(48, policy, crop=crop)(image=image)["image"]
        assert out.shape == (48, 48, 3) and out.dtype == np.uint8


def test_letterbox_keeps_the_whole_image_and_pads_with_the_fill():
    out = resize_transform(64, "letterbox", fill=(0, 200, 255))(image=_framed())["image"]
    # 80×40 → 64×32, centred: 16 rows of padding above and below.
    assert _is(out[:16], (0, 200, 255), tol=0).all() and _is(out[48:], (0, 200, 255), tol=0).all()
    content = out[16:48]
    for edge in (content[0], content[-1], content[:, 0], content[:, -1]):
        assert _is(edge, RED).all(), "the whole frame survives"
    assert _is(content[2:-2, 2:9], (0, 0, 255)).all(), "the side band too"
    assert _is(content[14:18, 30:34], GREEN).all()


def test_letterbox_of_a_tall_image_pads_left_and_right():
    out = resize_transform(64, "letterbox", fill=7)(image=_framed(80, 40))["image"]
    assert (out[:, :16] == 7).all() and (out[:, 48:] == 7).all()
    assert _is(out[:, 16], RED).all() and _is(out[0, 16:48], RED).all()


def test_crop_keeps_the_centre_and_cuts_the_sides():
    out = resize_transform(32, "crop")(image=_framed())["image"]
    # 80×40 → 64×32, centre 32 columns = original columns 20–59.
    assert _is(out[14:18, 14:18], GREEN).all(), "the centre is kept"
    assert not _is(out, (0, 0, 255)).any(), "the blue side bands are cut off"
    assert _is(out[0], RED).all() and _is(out[-1], RED).all()  # full height kept
    assert not _is(out[8:24, 0], RED).any(), "the left and right frame are gone"


def test_random_crop_moves_along_the_long_side_only():
    steps = resize_steps(32, "crop", crop="random")
    compose = A.Compose(steps, seed=0)
    outs = {compose(image=_framed())["image"].tobytes() for _ in range(12)}
    assert len(outs) > 3, "random positions"
    for _ in range(12):
        out = compose(image=_framed())["image"]
        assert _is(out[0], RED).all() and _is(out[-1], RED).all()  # never cut vertically


def test_squish_keeps_everything_but_the_aspect_ratio():
    out = resize_transform(64, "squish")(image=_framed())["image"]
    for edge in (out[0], out[-1], out[:, 0], out[:, -1]):
        assert _is(edge, RED).all()
    green = np.argwhere(_is(out, GREEN))
    height = green[:, 0].max() - green[:, 0].min() + 1
    width = green[:, 1].max() - green[:, 1].min() + 1
    assert height > 1.5 * width, "an 8×8 square is stretched to 8/40 × 8/80 of 64"


def test_shrinking_averages_instead_of_skipping_pixels():
    stripes = np.zeros((400, 400, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: any 10× shrink should come out mid-grey
    out = resize_transform(40, "squish")(image=stripes)["image"]
    assert np.abs(out.astype(int) - 127).max() <= 2


def test_shapes_of_the_transform():
    assert isinstance(resize_transform(32, "squish"), A.Resize)
    assert isinstance(resize_transform(32, "crop"), A.Sequential)
    assert [type(t).__name__ for t in resize_transform(32, "pad").transforms] == [
        "LongestMaxSize",
        "PadIfNeeded",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": "stretch"}, "resize policy must be one of"),
        ({"fill": 300}, "fill must be"),
        ({"fill": (1, 2)}, "fill must be"),
        ({"fill": "red"}, "fill must be"),
        ({"crop": "left"}, "crop must be"),
        ({"size": 4}, "size must be"),
        ({"size": 32.0}, "size must be"),
    ],
)
def test_bad_settings_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resize_transform(**({"size": 32} | kwargs))

"""Pipeline: seeded draws, previews, determinism of validation, settings and derived copies."""

from __future__ import annotations

import json

import albumentations as A
import numpy as np
import pytest
from PIL import Image

from cvnb.augment import DOMAIN_PRESETS, PRESETS, Pipeline, make_pipeline, preset


def test_same_seed_same_output_other_seed_other_output(scene):
    pipeline = preset("heavy", 64)
    first = pipeline.apply(scene, split="train", seed=7)
    assert np.array_equal(first, pipeline.apply(scene, split="train", seed=7))
    assert np.array_equal(first, preset("heavy", 64).apply(scene, split="train", seed=7))
    others = {pipeline.apply(scene, split="train", seed=s).tobytes() for s in range(8)}
    assert len(others) >= 6


@pytest.mark.parametrize("name", [*PRESETS, *DOMAIN_PRESETS])
@pytest.mark.parametrize("policy", ["squish", "crop", "letterbox"])
def test_validation_is_deterministic(scene, name, policy):
    pipeline = preset(name, 48, policy=policy, fill=(9, 9, 9))
    outs = {pipeline.apply(scene).tobytes() for _ in range(3)}
    outs |= {pipeline.apply(scene, seed=s).tobytes() for s in range(3)}
    assert len(outs) == 1
    out = pipeline.apply(scene)
    assert out.shape == (48, 48, 3) and out.dtype == np.uint8


def test_preview_gives_images_and_what_each_draw_applied(scene):
    pipeline = preset("medium", 64)
    draws = pipeline.preview(scene, n=12, seed=3)
    assert len(draws) == 12
    for image, applied in draws:
        assert isinstance(image, Image.Image) and image.size == (64, 64)
        assert list(applied)[:2] == ["LongestMaxSize", "PadIfNeeded"]
        json.dumps(applied)  # plain data, ready for a widget
    flipped = ["HorizontalFlip" in applied for _, applied in draws]
    assert any(flipped) and not all(flipped)
    rotations = [a["Affine"]["rotate"] for _, a in draws if "Affine" in a]
    assert rotations and all(-15 <= r <= 15 for r in rotations)
    # Draw i depends on (seed, i) only: asking for more keeps the first ones.
    again = pipeline.preview(scene, n=3, seed=3)
    for (a, pa), (b, pb) in zip(again, draws[:3], strict=False):
        assert np.array_equal(np.asarray(a), np.asarray(b)) and pa == pb
    assert not np.array_equal(np.asarray(draws[0][0]), np.asarray(pipeline.preview(scene, 1)[0][0]))


def test_preview_of_a_real_photo_path(photo):
    (image, applied), *_ = preset("light", 96, policy="crop").preview(photo, n=2)
    assert image.size == (96, 96)
    assert list(applied)[:2] == ["SmallestMaxSize", "RandomCrop"]


def test_transforms_with_equal_probability_fire_independently(scene):
    # albumentations 2.0's Compose(seed=…) alone would fire both flips together every time.
    pipeline = make_pipeline([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)], 32)
    draws = [set(a) & {"HorizontalFlip", "VerticalFlip"} for _, a in pipeline.preview(scene, 40)]
    assert sum(len(d) == 1 for d in draws) >= 10


def test_repeated_transforms_are_numbered(scene):
    pipeline = make_pipeline([A.Affine(rotate=5, p=1), A.Affine(rotate=-5, p=1)], 32)
    (_, applied), *_ = pipeline.preview(scene, n=1)
    assert applied["Affine"]["rotate"] == 5 and applied["Affine#2"]["rotate"] == -5


def test_the_pipeline_does_not_share_transform_objects(scene):
    flip = A.HorizontalFlip(p=0.5)
    a, b = make_pipeline([flip], 32), make_pipeline([flip], 32)
    assert a.transforms[0] is not flip and a.train.transforms[-1] is not b.train.transforms[-1]


def test_normalize_runs_in_training_and_validation(scene):
    pipeline = make_pipeline([A.HorizontalFlip(p=1)], 32, normalize=[A.ToGray(p=1)])
    for split in ("train", "valid"):
        out = pipeline.apply(scene, split=split, seed=0).astype(int)
        assert np.abs(out[..., 0] - out[..., 1]).max() <= 1, split
    assert [type(t).__name__ for t in pipeline.valid.transforms] == [
        "LongestMaxSize",
        "PadIfNeeded",
        "ToGray",
    ]


def test_replace_rebuilds_the_resize_and_keeps_the_rest(scene):
    medium = preset("medium", 128, mix="mixup")
    small = medium.replace(size=40, policy="crop")
    assert (small.size, small.policy, small.mix) == (40, "crop", "mixup")
    assert [type(t) for t in small.transforms] == [type(t) for t in medium.transforms]
    assert [type(t).__name__ for t in small.train.transforms[:2]] == [
        "SmallestMaxSize",
        "RandomCrop",
    ]
    assert small.apply(scene).shape == (40, 40, 3)
    assert medium.size == 128 and medium.policy == "letterbox"
    with pytest.raises(TypeError, match="unknown setting"):
        medium.replace(colour="red")


def test_pad_is_letterbox():
    assert make_pipeline([], 32, policy="pad") == make_pipeline([], 32, policy="letterbox")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"transforms": [A.Normalize()]}, ValueError, "must return RGB uint8"),
        ({"transforms": [A.Resize(20, 20)]}, ValueError, "must return RGB uint8"),
        ({"normalize": [A.CLAHE(p=0.5)]}, ValueError, "must always apply"),
        ({"transforms": ["flip"]}, TypeError, "albumentations transforms"),
        ({"mix": "blend"}, ValueError, "mix must be one of"),
        ({"mix_alpha": 0}, ValueError, "mix_alpha must be a positive"),
        ({"policy": "stretch"}, ValueError, "resize policy must be one of"),
    ],
)
def test_bad_pipelines_raise(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_pipeline(**({"transforms": [], "size": 32} | kwargs))


def test_a_transform_failing_on_images_is_reported_with_its_message():
    # Valid arguments, but the crop is larger than the 32-px image it will get.
    with pytest.raises(ValueError, match=r"train pipeline fails on a test image.*"):
        make_pipeline([A.RandomCrop(64, 64, p=1)], 32)


def test_preview_mix(scene):
    images = [scene, scene[::-1].copy(), scene[:, ::-1].copy(), np.full_like(scene, 80)]
    unmixed = preset("none", 32).preview_mix(images)
    assert [info for _, info in unmixed] == [{"mix": None}] * 4
    for mix in ("mixup", "cutmix"):
        mixed = preset("none", 32, mix=mix, mix_alpha=1.0).preview_mix(images, seed=2)
        assert len(mixed) == 4 and all(im.size == (32, 32) for im, _ in mixed)
        assert {info["mix"] for _, info in mixed} == {mix}
        assert all(0 <= info["lam"] <= 1 for _, info in mixed)


def test_display(scene):
    pipeline = preset("grayscale_scan", 64, mix="cutmix")
    text = repr(pipeline)
    assert "letterbox" in text and "CLAHE" in text and "cutmix" in text
    page = pipeline._repr_html_()
    assert "<table" in page and "RandomGamma" in page and "train + valid" in page
    assert pipeline != preset("grayscale_scan", 64)
    assert pipeline == preset("grayscale_scan", 64, mix="cutmix")
    assert isinstance(pipeline, Pipeline)

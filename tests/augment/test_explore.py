"""The explorer's logic: catalog, specs ⇄ steps ⇄ code, and seeded preview draws."""

from __future__ import annotations

import io
import json

import albumentations as A
import numpy as np
import pytest
from PIL import Image

from cvnb.augment import (
    DOMAIN_PRESETS,
    PRESETS,
    RESIZE_POLICIES,
    make_pipeline,
    preset,
)
from cvnb.augment._catalog import AUGMENTATIONS
from cvnb.augment._explore import (
    ExplorerSpecError,
    build_steps,
    pipeline_spec,
    plan_pipeline,
    steps_spec,
    transform_catalog,
)
from cvnb.augment._preview import PreviewSession, encode_array, sample_images

PNG = b"\x89PNG"
JPEG = b"\xff\xd8"


def _serialized(steps) -> list[str]:
    return [json.dumps(t.to_dict_private(), sort_keys=True, default=str) for t in steps]


# -- catalog -----------------------------------------------------------------------------


def test_catalog_lists_every_transform_with_json_ready_control_specs():
    catalog = transform_catalog()
    assert [c["name"] for c in catalog] == list(AUGMENTATIONS)
    json.dumps(catalog)  # travels to the browser as is
    for entry in catalog:
        assert entry["params"][0] | {"default": None} == {
            "name": "p",
            "kind": "float",
            "default": None,
            "minimum": 0,
            "maximum": 1,
            "choices": [],
            "labels": [],
            "nullable": False,
            "step": 0.01,
        }
        assert entry["category"] in {"geometry", "colour", "blur, noise, quality", "occlusion"}
    by_name = {c["name"]: {p["name"]: p for p in c["params"]} for c in catalog}
    # Range defaults written as one number are shown as the pair the transform makes.
    assert by_name["CLAHE"]["clip_limit"]["default"] == [1.0, 4.0]
    assert by_name["Affine"]["rotate"]["default"] == [0.0, 0.0]
    assert by_name["Affine"]["interpolation"]["labels"][:2] == ["nearest", "linear"]
    assert by_name["GaussNoise"]["std_range"]["kind"] == "float_range"
    ratio = by_name["GridDropout"]["ratio"]
    assert (ratio["kind"], ratio["minimum"], ratio["maximum"]) == ("float", 0, 1)
    assert by_name["ToGray"]["method"]["choices"][0] == "weighted_average"
    assert by_name["ImageCompression"]["quality_range"]["step"] == 1


# -- specs ⇄ steps -----------------------------------------------------------------------


@pytest.mark.parametrize("name", [*PRESETS, *DOMAIN_PRESETS])
def test_spec_round_trip_rebuilds_every_preset_exactly(name):
    pipeline = preset(name, 64)
    for steps in (pipeline.transforms, pipeline.normalize):
        spec = steps_spec(steps)
        assert json.loads(json.dumps(spec)) == spec
        assert _serialized(build_steps(spec)) == _serialized(steps)


def test_spec_keeps_only_arguments_that_differ_from_the_defaults():
    spec = steps_spec([A.Affine(rotate=(-10, 10), scale=(0.9, 1.1), p=0.7), A.HorizontalFlip()])
    assert spec == [
        {"name": "Affine", "p": 0.7, "params": {"rotate": [-10.0, 10.0], "scale": [0.9, 1.1]}},
        {"name": "HorizontalFlip", "p": 0.5, "params": {}},
    ]


def test_bad_specs_raise_with_albumentations_message_and_the_step_index():
    good = {"name": "HorizontalFlip", "p": 0.5}
    cases = [
        ({"name": "GaussNoise", "params": {"std_range": [0.5, 0.1]}}, "less than the second"),
        ({"name": "Sparkle"}, "no transform named 'Sparkle'"),
        ({"name": "GaussNoise", "params": {"bogus": 1}}, "'bogus' are not valid"),
        ({"name": "HorizontalFlip", "p": 1.5}, "less than or equal to 1"),
        ({"name": "Affine", "colour": 3}, "unknown key"),
        ({"name": "Affine", "params": {"p": 1}}, "the step's 'p'"),
        ({"name": "RandomShadow", "params": {"shadow_roi": "(0, 0.5,"}}, "Python literal"),
        ({"name": "OneOf", "transforms": [{"name": "Sparkle"}]}, r"OneOf\[0\] \(Sparkle\)"),
        ("HorizontalFlip", "a step is a dict"),
    ]
    for bad, message in cases:
        with pytest.raises(ExplorerSpecError, match=message) as info:
            build_steps([good, bad])
        assert info.value.index == 1
        assert str(info.value).startswith("transforms[1]")
    with pytest.raises(ExplorerSpecError, match="must be a list"):
        build_steps({"name": "HorizontalFlip"})


def test_text_values_of_literal_parameters_are_read_as_python():
    [shadow] = build_steps([{"name": "RandomShadow", "params": {"shadow_roi": "(0, 0.2, 1, 1)"}}])
    assert shadow.shadow_roi == (0, 0.2, 1, 1)


# -- plans and code ----------------------------------------------------------------------


@pytest.mark.parametrize("policy", RESIZE_POLICIES)
def test_plan_builds_the_same_pipeline_and_code_that_rebuilds_it(policy):
    original = preset("document", 48, policy=policy, fill=(255, 250, 240), mix="cutmix")
    plan = plan_pipeline(**pipeline_spec(original))
    assert plan.pipeline() == original
    namespace: dict = {}
    exec(plan.code(), namespace)  # the code must run as written
    assert namespace["pipeline"] == original
    # What the plan trains with is what the pipeline trains with, step for step.
    assert _serialized(plan.train_steps) == _serialized(original.train.transforms)


def test_plan_refuses_bad_settings_with_cvnb_messages():
    with pytest.raises(ExplorerSpecError, match="size must be") as info:
        plan_pipeline([], 4)
    assert info.value.index == -1
    with pytest.raises(ExplorerSpecError, match="resize policy"):
        plan_pipeline([], 64, policy="stretch")
    with pytest.raises(ExplorerSpecError, match="mix must be"):
        plan_pipeline([], 64, mix="blend")
    with pytest.raises(ExplorerSpecError, match="use p=1"):
        plan_pipeline([], 64, normalize=[{"name": "CLAHE", "p": 0.5}])
    assert plan_pipeline([], 64, mix="none").mix is None


# -- preview draws -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(scene) -> list[np.ndarray]:
    """Three images of different shapes (wide, tall, tiny)."""
    return [scene, np.ascontiguousarray(scene.transpose(1, 0, 2)), scene[:8, :12]]


@pytest.mark.parametrize("policy", RESIZE_POLICIES)
def test_draws_are_exactly_what_training_does(images, policy):
    pipeline = preset("heavy", 64, policy=policy)
    plan = plan_pipeline(**pipeline_spec(pipeline))
    draws = PreviewSession(images).draw(plan, draws=2, seed=5)
    assert len(draws.images) == len(draws.applied) == 6
    for i, image in enumerate(images):
        expected = pipeline.apply(image, split="train", seed=[5, i, 0])
        np.testing.assert_array_equal(draws.first[i], expected)
        assert draws.applied[2 * i + 1] | {"transforms": None} == {
            "image": i,
            "draw": 1,
            "transforms": None,
        }
    # A Pipeline object draws the same as its plan, and is not reseeded by it.
    again = PreviewSession(images).draw(pipeline, draws=2, seed=5)
    assert again.images == draws.images and again.applied == draws.applied


def test_applied_parameters_are_recorded_within_the_ranges_set(images):
    spec = [{"name": "Affine", "p": 1.0, "params": {"rotate": [20, 30]}}]
    draws = PreviewSession(images).draw(plan_pipeline(spec, 64), draws=3, seed=0)
    rotations = [a["transforms"]["Affine"]["rotate"] for a in draws.applied]
    assert len(rotations) == 9 and all(20 <= r <= 30 for r in rotations)
    assert len(set(rotations)) == 9  # every draw draws anew
    json.dumps(draws.applied)
    never = PreviewSession(images).draw(plan_pipeline([{"name": "Affine", "p": 0.0}], 64))
    assert all(a["transforms"] == {} for a in never.applied)


def test_only_the_draws_are_recomputed_and_unchanged_thumbnails_reused(images):
    session = PreviewSession(images)
    flip = [{"name": "HorizontalFlip", "p": 0.0}]
    first = session.draw(plan_pipeline(flip, 64), draws=2)
    # Nothing fires: every draw is the resized image, encoded once per image.
    assert first.images[0] is first.images[1]
    bases = session._bases
    assert len(bases) == 1
    second = session.draw(plan_pipeline([{"name": "HorizontalFlip", "p": 1.0}], 64), draws=2)
    assert len(bases) == 1  # same resize policy: the resized images came from the cache
    assert second.images[0] != first.images[0]
    session.draw(plan_pipeline(flip, 64, policy="crop"), draws=1)
    assert len(bases) == 2


def test_a_step_that_breaks_the_output_shape_is_reported(images):
    plan = plan_pipeline([{"name": "RandomCrop", "params": {"height": 10, "width": 10}}], 64)
    with pytest.raises(ExplorerSpecError, match="RGB uint8 images of 64×64"):
        PreviewSession(images).draw(plan)
    with pytest.raises(ExplorerSpecError, match="draws must be"):
        PreviewSession(images).draw(plan_pipeline([], 64), draws=0)


def test_mix_previews_follow_fastai_arithmetic(images):
    session = PreviewSession(images)
    first = session.draw(plan_pipeline([], 64), draws=1).first
    assert session.mix(first, "none") == ([], [])
    thumbs, info = session.mix(first, "mixup", 0.4, seed=1)
    assert len(thumbs) == 3 and all(0.5 <= x["lam"] <= 1 for x in info)
    _, info = session.mix(first, "cutmix", 1.0, seed=1)
    assert all(len(x["box"]) == 4 for x in info)
    json.dumps(info)


def test_thumbnails_are_png_when_tiny_and_jpeg_shrunk_when_large():
    tiny = encode_array(np.zeros((32, 32, 3), np.uint8))
    assert tiny.startswith(PNG)
    large = encode_array(np.zeros((600, 400, 3), np.uint8), max_side=300)
    assert large.startswith(JPEG)
    assert Image.open(io.BytesIO(large)).size == (200, 300)


def test_sample_images_from_a_table_takes_readable_training_rows(digits_subset):
    table = digits_subset.copy()
    table.loc[table.index[0], "error"] = "truncated"
    sample = sample_images(table, n_images=5, seed=3)
    assert len(sample.arrays) == 5 and len(sample.labels) == 5
    train = set(table.loc[(table.split == "train") & table.error.isna(), "path"])
    assert set(sample.paths) <= train
    assert sample_images(table, n_images=5, seed=3).paths == sample.paths
    assert sample_images(table, n_images=5, seed=4).paths != sample.paths
    assert sample.arrays[0].dtype == np.uint8 and sample.arrays[0].shape[2] == 3
    listed = sample_images([*sample.paths[:2], "/no/such/file.png"], n_images=3)
    assert len(listed.arrays) == 2 and "file.png" in listed.skipped[0]
    with pytest.raises(ValueError, match="no readable image"):
        sample_images(["/no/such/file.png"])


def test_a_saved_plan_matches_make_pipeline(tmp_path, images):
    spec = [{"name": "Perspective", "p": 1.0, "params": {"scale": [0.05, 0.1]}}]
    plan = plan_pipeline(spec, 64, policy="crop")
    made = make_pipeline([A.Perspective(scale=(0.05, 0.1), p=1.0)], 64, policy="crop")
    assert plan.pipeline() == made
    np.testing.assert_array_equal(
        plan.pipeline().apply(images[0], split="train", seed=3),
        made.apply(images[0], split="train", seed=3),
    )

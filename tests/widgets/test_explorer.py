"""AugmentationExplorer driven through its traits (no browser), on the real digits scans."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cvnb.augment import load_pipeline, preset
from cvnb.augment._explore import pipeline_spec
from cvnb.widgets._assets import asset_path
from cvnb.widgets._explorer import AugmentationExplorer, explore_augmentations

AFFINE = {"name": "Affine", "p": 1.0, "params": {"rotate": [20, 30]}}


@pytest.fixture
def explorer(digits_subset) -> AugmentationExplorer:
    return explore_augmentations(digits_subset, None, n_images=3, draws=2, size=48, seed=1)


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_explorer_starts_with_previews_originals_and_a_catalog(digits_subset):
    w = explore_augmentations(digits_subset, "light", n_images=3, draws=2, size=48)
    assert w.error == "" and w.error_step == -1
    assert len(w.originals) == 3 and len(w.previews) == 6 and len(w.applied) == 6
    assert [(a["image"], a["draw"]) for a in w.applied[:3]] == [(0, 0), (0, 1), (1, 0)]
    assert all(label in "0123456789" for label in w.labels)
    assert _decoded(w.previews[0]).shape == (48, 48, 3)
    names = [t["name"] for t in w.transforms]
    assert names == ["HorizontalFlip", "Affine", "RandomBrightnessContrast"]
    assert w.pipeline == preset("light", 48)
    assert "Affine" in {c["name"] for c in w.catalog}
    assert set(w.choices) == {"policies", "mix", "presets"}
    assert w.code.startswith("import albumentations as A") and w.render_ms > 0
    assert "3 images × 2 draws" in repr(w)


def test_adding_changing_and_removing_a_step_redraws_and_records_it(explorer):
    before = list(explorer.previews)
    assert all(a["transforms"] == {} for a in explorer.applied)  # nothing to apply yet
    explorer.transforms = [AFFINE]
    assert explorer.previews != before
    rotations = [a["transforms"]["Affine"]["rotate"] for a in explorer.applied]
    assert len(rotations) == 6 and all(20 <= r <= 30 for r in rotations)

    changed = list(explorer.previews)
    explorer.transforms = [AFFINE | {"params": {"rotate": [-30, -20]}}]
    assert explorer.previews != changed
    assert all(-30 <= a["transforms"]["Affine"]["rotate"] <= -20 for a in explorer.applied)

    explorer.transforms = []
    assert explorer.previews == before and explorer.error == ""


def test_draws_match_the_pipeline_the_explorer_saves(explorer, digits_subset):
    explorer.transforms = [AFFINE, {"name": "CoarseDropout", "p": 1.0}]
    pipeline = explorer.pipeline
    sample = explorer._session.images  # the images the explorer decoded
    for i, image in enumerate(sample):
        expected = pipeline.apply(image, split="train", seed=[explorer.seed, i, 0])
        # The thumbnail is that array, losslessly (48 px previews are PNG).
        np.testing.assert_array_equal(_decoded(explorer.previews[2 * i]), expected)


def test_bad_parameters_show_the_library_message_and_keep_the_last_previews(explorer):
    explorer.transforms = [AFFINE]
    good, code = list(explorer.previews), explorer.code
    explorer.transforms = [AFFINE, {"name": "GaussNoise", "params": {"std_range": [0.5, 0.1]}}]
    assert "GaussNoise" in explorer.error and "less than the second" in explorer.error
    assert explorer.error_step == 1
    assert explorer.previews == good and explorer.code == code
    assert explorer.pipeline.transforms[0].__class__.__name__ == "Affine"
    with pytest.raises(ValueError, match="fix the error"):
        explorer.save("unused.json")
    explorer.size = 4  # a bad setting, while the step is still bad: still an error
    assert explorer.error and explorer.error_step in (-1, 1)
    explorer.size = 48
    explorer.transforms = [AFFINE]
    assert (explorer.error, explorer.error_step) == ("", -1)


def test_save_writes_a_file_that_loads_and_gives_identical_outputs(explorer, tmp_path):
    explorer.transforms = [AFFINE, {"name": "RandomBrightnessContrast", "p": 0.8}]
    explorer.policy = "crop"
    explorer.mix = "mixup"
    path = explorer.save(tmp_path / "aug" / "pipeline.json")
    assert explorer.saved == str(path)
    loaded = load_pipeline(path)
    # Same document (compared as values: albumentations reads Affine's default
    # translate_px (0, 0) back as (0.0, 0.0)), same settings, same outputs.
    assert loaded.to_dict() == explorer.pipeline.to_dict()
    assert (loaded.mix, loaded.policy, loaded.size) == ("mixup", "crop", 48)
    image = explorer._session.images[0]
    for seed in (0, 7):
        np.testing.assert_array_equal(
            loaded.apply(image, split="train", seed=seed),
            explorer.pipeline.apply(image, split="train", seed=seed),
        )
    np.testing.assert_array_equal(
        loaded.apply(image, split="valid"), explorer.pipeline.apply(image, split="valid")
    )


def test_code_trait_is_python_that_rebuilds_the_pipeline(explorer):
    explorer.transforms = [
        AFFINE,
        {
            "name": "OneOf",
            "p": 0.4,
            "transforms": [{"name": "GaussianBlur"}, {"name": "GaussNoise"}],
        },
        {"name": "RandomShadow", "p": 0.3, "params": {"shadow_roi": "(0, 0.3, 1, 1)"}},
    ]
    explorer.fill = [10, 20, 30]
    assert explorer.error == ""
    namespace: dict = {}
    exec(explorer.code, namespace)  # what "Copy as code" gives must run
    assert namespace["pipeline"] == explorer.pipeline
    assert namespace["pipeline"].fill == (10, 20, 30)


def test_browser_actions_save_and_load_presets(explorer, tmp_path):
    explorer.save_path = str(tmp_path / "from_button.json")
    explorer.action = {"kind": "save", "seq": 1}
    assert explorer.action == {} and explorer.error == ""
    assert load_pipeline(tmp_path / "from_button.json") == explorer.pipeline

    explorer.action = {"kind": "preset", "name": "aerial", "seq": 2}
    assert explorer.transforms == pipeline_spec(preset("aerial", 48))["transforms"]
    assert explorer.pipeline == preset("aerial", 48)

    # Failures of a browser request land in the error area, not in an exception.
    explorer.save_path = ""
    explorer.action = {"kind": "save", "seq": 3}
    assert "save_path" in explorer.error and explorer.action == {}
    explorer.action = {"kind": "explode", "seq": 4}
    assert "not one of" in explorer.error


def test_mix_changes_remix_without_redrawing(explorer):
    explorer.seed = 3  # a batch permutation that moves every image (seed 1 keeps them)
    explorer.transforms = [AFFINE]
    previews = explorer.previews
    explorer.mix = "cutmix"
    assert explorer.previews is previews  # the draws were not re-run
    assert len(explorer.mix_previews) == 3 and "box" in explorer.mix_info[0]
    assert [x["partner"] for x in explorer.mix_info] != [0, 1, 2]
    mixed = list(explorer.mix_previews)
    explorer.mix_alpha = 2.0
    assert explorer.previews is previews and explorer.mix_previews != mixed
    explorer.mix = "none"
    assert explorer.mix_previews == [] and explorer.mix_info == []


def test_settings_and_seed_redraw(explorer):
    explorer.transforms = [AFFINE]
    first = list(explorer.previews)
    explorer.seed = 2
    assert explorer.previews != first
    explorer.draws = 1
    assert len(explorer.previews) == 3 and len(explorer.applied) == 3
    explorer.size = 32
    assert _decoded(explorer.previews[0]).shape == (32, 32, 3)
    explorer.draws = 0
    assert "draws must be" in explorer.error


def test_set_pipeline_from_object_preset_and_file(explorer, tmp_path):
    scan = preset("grayscale_scan", 40, policy="squish")
    explorer.set_pipeline(scan)
    assert explorer.pipeline == scan and explorer.normalize and explorer.size == 40
    path = preset("heavy", 40).save(tmp_path / "heavy.json")
    explorer.set_pipeline(path)
    assert explorer.pipeline == load_pipeline(path)
    explorer.set_pipeline("none")
    assert explorer.transforms == [] and explorer.error == ""


def test_explorer_on_a_list_of_images_and_with_unreadable_files(tmp_path):
    image = np.zeros((30, 50, 3), np.uint8)
    image[5:20, 5:15] = 255
    path = tmp_path / "a.png"
    Image.fromarray(image).save(path)
    w = explore_augmentations([path, tmp_path / "missing.png"], preset("light", 32), draws=1)
    assert len(w.originals) == 1 and "Skipped 1 unreadable" in w.error
    assert w.size == 32
    with pytest.raises(ValueError, match="labels"):
        AugmentationExplorer([image], labels=["a", "b"])


def test_front_end_assets_exist():
    js = asset_path("explorer.js").read_text()
    assert "export default { render }" in js
    for trait in ("transforms", "previews", "applied", "action", "error_step", "code"):
        assert f'"{trait}"' in js
    assert ".cvnb-explorer" in asset_path("explorer.css").read_text()

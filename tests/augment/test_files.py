"""Pipelines as files and as code: round trips give identical outputs; bad files, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import albumentations as A
import numpy as np
import pytest

from cvnb.augment import (
    PipelineFileError,
    load_pipeline,
    make_pipeline,
    preset,
)
from cvnb.augment._document import PIPELINE_FORMAT


def _draws(pipeline, image, n=6, seed=11):
    return [np.asarray(im) for im, _ in pipeline.preview(image, n=n, seed=seed)]


@pytest.mark.parametrize(
    "pipeline",
    [
        preset("heavy", 64, policy="letterbox", fill=(1, 2, 3), mix="cutmix", mix_alpha=1.0),
        preset("grayscale_scan", 48, policy="crop"),
        preset("aerial", 40, policy="squish", mix="mixup"),
    ],
    ids=["heavy-letterbox", "grayscale-crop", "aerial-squish"],
)
def test_save_load_round_trip_gives_identical_outputs(pipeline, scene, tmp_path):
    path = pipeline.save(tmp_path / "sub" / "pipeline.json")
    assert path == tmp_path / "sub" / "pipeline.json"
    assert sorted(p.name for p in path.parent.iterdir()) == ["pipeline.json"]
    document = json.loads(path.read_text())
    assert document["cvnb_pipeline"] == PIPELINE_FORMAT == 1
    assert {"size", "policy", "fill", "mix", "mix_alpha", "train", "valid"} <= set(document)
    loaded = load_pipeline(path)
    assert loaded == pipeline
    assert (loaded.size, loaded.policy, loaded.fill, loaded.mix, loaded.mix_alpha) == (
        pipeline.size,
        pipeline.policy,
        pipeline.fill,
        pipeline.mix,
        pipeline.mix_alpha,
    )
    for a, b in zip(_draws(loaded, scene), _draws(pipeline, scene), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(loaded.apply(scene), pipeline.apply(scene))


def test_to_code_rebuilds_the_same_pipeline(scene):
    pipeline = preset("heavy", 48, fill=(5, 6, 7), mix="mixup", mix_alpha=0.3)
    code = pipeline.to_code()
    assert "import albumentations as A" in code and "make_pipeline(" in code
    assert "A.CoarseDropout(" in code and "A.OneOf([" in code
    namespace: dict = {}
    exec(code, namespace)  # the point of the test
    rebuilt = namespace["pipeline"]
    assert rebuilt == pipeline
    for a, b in zip(_draws(rebuilt, scene), _draws(pipeline, scene), strict=True):
        assert np.array_equal(a, b)
    gray = preset("grayscale_scan", 32).to_code()
    assert "normalize=[" in gray and "A.CLAHE(" in gray


def _same(image, **_):
    return image


def test_save_replaces_a_file_only_when_the_new_one_is_complete(tmp_path):
    path = preset("light", 32).save(tmp_path / "p.json")
    before = path.read_text()
    # A.Lambda runs fine but albumentations cannot serialize it.
    unsaveable = make_pipeline([A.Lambda(image=_same, p=1)], 32)
    with pytest.raises(Exception, match=r"(?i)lambda|serializ"):
        unsaveable.save(path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


def _write(tmp_path: Path, document) -> Path:
    path = tmp_path / "p.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def _good() -> dict:
    return preset("medium", 32).to_dict()


def _edit(change):
    def build():
        document = _good()
        change(document)
        return document

    return build


def _set_first_augment(key, value):
    def change(document):
        document["train"]["transform"]["transforms"][2][key] = value

    return change


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: "{not json", r"is not JSON \(.*line 1"),
        (lambda: "[1, 2]", "is not a cvnb pipeline"),
        (lambda: {"transform": {}}, "no 'cvnb_pipeline' key"),
        (_edit(lambda d: d.update(cvnb_pipeline=2)), "format 2.*upgrade cvnb"),
        (_edit(lambda d: d.update(cvnb_pipeline="one")), "format 'one'.*re-save"),
        (_edit(lambda d: d.pop("valid")), r"lacks \['valid'\]"),
        (_edit(lambda d: d.update(policy="stretch")), "resize policy must be one of"),
        (_edit(lambda d: d.update(mix="blend")), "mix must be one of"),
        (_edit(lambda d: d.update(train={"transforms": []})), "not an albumentations document"),
        (
            _edit(_set_first_augment("__class_fullname__", "HorizontalFlipp")),
            "unknown transform 'HorizontalFlipp' in 'train'.*fix the name",
        ),
        (
            _edit(_set_first_augment("probability", 0.5)),
            r"unknown parameter\(s\) \['probability'\] for HorizontalFlip",
        ),
        (_edit(_set_first_augment("p", 7)), "bad parameters for HorizontalFlip"),
        (_edit(lambda d: d.update(size=64)), "'train' does not start with the recorded resize"),
        (
            _edit(
                lambda d: d["valid"]["transform"]["transforms"].append(
                    {"__class_fullname__": "ToGray", "p": 1.0}
                )
            ),
            "after the resize in 'valid'.*must also follow it in 'train'",
        ),
    ],
    ids=[
        "not-json",
        "json-list",
        "no-key",
        "newer-format",
        "bad-format",
        "missing-part",
        "bad-policy",
        "bad-mix",
        "not-albumentations",
        "unknown-transform",
        "unknown-parameter",
        "bad-parameter",
        "resize-mismatch",
        "valid-only-step",
    ],
)
def test_bad_files_raise_pipeline_file_error(tmp_path, build, message):
    path = _write(tmp_path, build())
    with pytest.raises(PipelineFileError, match=message) as caught:
        load_pipeline(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(PipelineFileError, match=r"no pipeline file at.*preset name.*medium"):
        load_pipeline(tmp_path / "nope.json")
    with pytest.raises(PipelineFileError, match="is a folder"):
        load_pipeline(tmp_path)


def test_binary_file_is_not_json(tmp_path):
    path = tmp_path / "p.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(PipelineFileError, match="is not JSON"):
        load_pipeline(path)

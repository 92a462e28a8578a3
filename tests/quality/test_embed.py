"""The quality scan's embedder on real images: copies near, backends agree, cache keys honest."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from cvnb.data import load_images, read_image
from cvnb.models import PretrainedWeightsUnavailable
from cvnb.quality._embed import DEFAULT_EMBED_SIZE, Embedder, make_embedder

SIZE = 64  # smaller than the default: the contracts tested here do not depend on it


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Iterator[Path]:
    """A private cvnb cache for this module, so the ONNX export really runs here."""
    root = tmp_path_factory.mktemp("cvnb-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CVNB_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def ort_embedder(cache: Path) -> Embedder:
    return make_embedder(size=SIZE, backend="onnxruntime")


@pytest.fixture(scope="module")
def torch_embedder(cache: Path) -> Embedder:
    return make_embedder(size=SIZE, backend="torch")


@pytest.fixture(scope="module")
def photos(coco_crops: Path) -> list[Image.Image]:
    table = load_images(coco_crops)
    # One crop per source photo where possible: crops of one photo can look alike.
    return [read_image(p) for p in table.sort_values("path").path.iloc[::8][:12]]


@pytest.fixture(scope="module")
def digit_images(digits_subset) -> list[Image.Image]:
    rows = digits_subset[digits_subset.split == "train"].groupby("label").head(2)
    # Upscaled as a scan would store them: on an 8×8 file a JPEG re-save is a new drawing.
    return [read_image(p).resize((32, 32), Image.Resampling.BICUBIC) for p in rows.path]


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _copies(image: Image.Image) -> list[Image.Image]:
    w, h = image.size
    return [
        image.resize((max(8, w * 3 // 5), max(8, h * 3 // 5)), Image.Resampling.BICUBIC),
        _jpeg(image, 75),
        ImageEnhance.Brightness(image).enhance(1.2),
    ]


@pytest.mark.parametrize("images", ["photos", "digit_images"])
def test_edited_copy_is_nearer_to_its_source_than_other_images_are(
    request, images: str, ort_embedder: Embedder
) -> None:
    originals = request.getfixturevalue(images)
    emb = ort_embedder(originals)
    sims = emb @ emb.T
    np.fill_diagonal(sims, -1.0)
    closest_other = sims.max(axis=1)
    for i, image in enumerate(originals):
        copies = ort_embedder(_copies(image))
        to_source = copies @ emb[i]
        to_all = copies @ emb.T
        assert (to_all.argmax(axis=1) == i).all(), f"image {i}: a copy is nearer another image"
        assert (to_source > closest_other[i]).all(), (to_source, closest_other[i])


def test_output_is_unit_float32_rows_for_any_mode(ort_embedder: Embedder, photos) -> None:
    images = [photos[0], photos[1].convert("L"), photos[2].convert("RGBA")]
    emb = ort_embedder(images)
    assert emb.dtype == np.float32
    assert emb.shape == (3, ort_embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert ort_embedder([]).shape == (0, ort_embedder.dim)
    # Batching does not change a vector.
    small_batches = make_embedder(size=SIZE, backend="onnxruntime", batch_size=2)
    np.testing.assert_allclose(small_batches(images), emb, atol=1e-5)


def test_torch_and_onnxruntime_agree(ort_embedder: Embedder, torch_embedder: Embedder, photos):
    a, b = ort_embedder(photos), torch_embedder(photos)
    assert np.abs(a - b).max() < 1e-4
    assert ort_embedder.key == torch_embedder.key  # the backend is not part of the key


def test_key_changes_with_size_and_preprocessing(ort_embedder: Embedder) -> None:
    other_size = make_embedder(size=SIZE + 32, backend="torch")
    cropped = make_embedder(size=SIZE, backend="torch", resize="crop")
    keys = {ort_embedder.key, other_size.key, cropped.key}
    assert len(keys) == 3
    assert f"size={SIZE}" in ort_embedder.key and "tf_efficientnet_lite0" in ort_embedder.key


def test_onnx_export_is_cached_once(cache: Path, ort_embedder: Embedder) -> None:
    path = ort_embedder.onnx_path
    assert path is not None and path.is_file() and cache in path.parents
    names = sorted(p.name for p in path.parent.iterdir())
    # the export and its index entry, no temporary leftovers
    assert len(names) == 2 and path.name in names, names
    assert any(n.endswith(".index.json") for n in names)
    before = path.stat().st_mtime_ns
    again = make_embedder(size=SIZE, backend="onnxruntime")
    assert again.onnx_path == path and path.stat().st_mtime_ns == before


def test_bad_arguments_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        make_embedder(backend="tensorflow")
    with pytest.raises(ValueError, match="resize must be one of"):
        make_embedder(resize="letterbox")
    with pytest.raises(ValueError, match="at least 32"):
        make_embedder(size=16)
    assert DEFAULT_EMBED_SIZE >= 32


def test_hub_weights_offline_raise_with_the_offline_alternative(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PretrainedWeightsUnavailable, match="tf_efficientnet_lite0"):
        make_embedder("resnet18")


def test_other_timm_models_use_their_last_two_feature_levels() -> None:
    import timm
    import torch

    from cvnb.quality._embed_net import PooledFeatures

    features = PooledFeatures(timm.create_model("resnet18", pretrained=False)).eval()
    with torch.inference_mode():
        out = features(torch.rand(2, 3, 64, 64))
    assert features.layers == "intermediates-last2"
    assert out.shape == (2, 256 + 512)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))


def test_a_cached_export_runs_without_torch(cache: Path, ort_embedder: Embedder, photos, tmp_path):
    """Once exported, the default embedder opens with onnxruntime alone: same key, same vectors."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, image in enumerate(photos[:4]):
        image.save(folder / f"{i}.png")
    code = (
        "import json, sys\n"
        + "".join(f"sys.modules[{m!r}] = None\n" for m in ("torch", "timm", "fastai"))
        + "from PIL import Image\n"
        "from cvnb.quality import make_embedder\n"
        f"e = make_embedder(size={SIZE})\n"
        f"ims = [Image.open({str(folder)!r} + f'/{{i}}.png') for i in range(4)]\n"
        "print(json.dumps({'key': e.key, 'vectors': e(ims).tolist()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "CVNB_CACHE": str(cache)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["key"] == ort_embedder.key
    reloaded = [Image.open(folder / f"{i}.png") for i in range(4)]
    assert np.abs(np.asarray(got["vectors"]) - ort_embedder(reloaded)).max() < 1e-5


def test_an_index_entry_whose_export_is_gone_is_rebuilt(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CVNB_CACHE", str(tmp_path))
    first = make_embedder(size=SIZE)
    first.onnx_path.unlink()
    again = make_embedder(size=SIZE)  # the torch path exports again and rewrites the entry
    assert again.onnx_path == first.onnx_path and again.onnx_path.is_file()
    assert again.key == first.key

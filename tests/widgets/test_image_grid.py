"""ImageGrid and show_images, driven through their traits (no browser)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import traitlets
from PIL import Image

from cvnb.widgets import ImageGrid, show_images
from cvnb.widgets._assets import asset_path

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def image_table(tmp_path) -> pd.DataFrame:
    """Twelve real image files (JPEG and PNG, varied sizes) in a dataset table."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        label = ["cat", "dog", "bird"][i % 3]
        size = (40 + 30 * i, 300 - 15 * i)
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        path = tmp_path / f"{label}_{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(pixels).save(path)
        rows.append({"path": str(path), "label": label, "split": "train"})
    return pd.DataFrame(rows)


def test_show_images_from_table(image_table):
    grid = show_images(image_table, max_images=8, thumb_size=64)
    assert isinstance(grid, ImageGrid)
    assert len(grid.images) == 8
    assert grid.labels == list(image_table["label"][:8])
    assert grid.paths == list(image_table["path"][:8])
    assert grid.predictions == []
    assert grid.thumb_size == 64
    assert grid.error == ""
    for data in grid.images:
        assert isinstance(data, bytes)
        assert data.startswith((JPEG_MAGIC, PNG_MAGIC))
        assert max(_decode(data).size) <= 2 * 64


def test_thumbnails_keep_aspect_ratio(image_table):
    grid = show_images(image_table, max_images=12, thumb_size=48)
    for data, path in zip(grid.images, grid.paths, strict=True):
        width, height = Image.open(path).size
        thumb = _decode(data)
        assert abs(thumb.width / thumb.height - width / height) < 0.1


def test_images_travel_as_binary_buffers(image_table):
    grid = show_images(image_table, max_images=3)
    state = grid.get_state()
    from ipywidgets.widgets.widget import _remove_buffers

    stripped, buffer_paths, buffers = _remove_buffers(state)
    assert [p for p in buffer_paths if p[0] == "images"] == [["images", i] for i in range(3)]
    assert stripped["images"] == [None, None, None]
    assert all(isinstance(b, bytes) for b in buffers)


def test_seed_sampling_is_reproducible(image_table):
    first = show_images(image_table, max_images=5, seed=7)
    again = show_images(image_table, max_images=5, seed=7)
    other = show_images(image_table, max_images=5, seed=8)
    assert first.paths == again.paths
    assert first.images == again.images
    assert first.paths != other.paths
    # Sampled rows keep their table order, and labels stay attached to their paths.
    order = [list(image_table["path"]).index(p) for p in first.paths]
    assert order == sorted(order)
    labels_by_path = dict(zip(image_table["path"], image_table["label"], strict=True))
    assert first.labels == [labels_by_path[p] for p in first.paths]


def test_without_seed_takes_the_first_rows(image_table):
    grid = show_images(image_table, max_images=4)
    assert grid.paths == list(image_table["path"][:4])


def test_rows_with_errors_are_skipped(image_table):
    table = image_table.copy()
    table["error"] = None
    table.loc[[1, 4], "error"] = "file is empty (0 bytes)"
    table.loc[5, "error"] = ""  # an empty reason is not an error
    grid = show_images(table, max_images=100)
    expected = [p for i, p in enumerate(image_table["path"]) if i not in (1, 4)]
    assert grid.paths == expected
    assert len(grid.images) == len(grid.labels) == 10


def test_unreadable_files_are_reported_not_raised(image_table, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    table = pd.concat(
        [image_table.head(2), pd.DataFrame([{"path": str(broken), "label": "cat"}])],
        ignore_index=True,
    )
    grid = show_images(table)
    assert len(grid.images) == len(grid.labels) == 2
    assert "broken.jpg" in grid.error
    assert "Skipped 1" in grid.error


def test_prediction_column_and_explicit_labels(image_table):
    table = image_table.assign(prediction=["cat"] * len(image_table))
    grid = show_images(table, max_images=6)
    assert grid.predictions == ["cat"] * 6
    relabelled = show_images(table, labels=[f"L{i}" for i in range(12)], predictions="label")
    assert relabelled.labels[:3] == ["L0", "L1", "L2"]
    assert relabelled.predictions == list(image_table["label"])


def test_list_of_pil_images():
    images = [Image.new("RGB", (200, 100), (i * 20, 0, 0)) for i in range(5)]
    grid = show_images(images, labels=list("abcde"), predictions=list("abxde"), columns=3)
    assert grid.labels == list("abcde")
    assert grid.predictions == list("abxde")
    assert grid.paths == []
    assert grid.columns == 3
    assert all(_decode(b).size == (192, 96) for b in grid.images)


def test_list_of_paths(image_table):
    grid = show_images([Path(p) for p in image_table["path"][:3]])
    assert grid.paths == list(image_table["path"][:3])
    assert grid.labels == []


@pytest.mark.parametrize("what", ["labels", "predictions"])
def test_mismatched_lengths_raise(what):
    images = [Image.new("RGB", (20, 20)) for _ in range(3)]
    with pytest.raises(ValueError, match=f"{what} has 2 entries but source has 3"):
        show_images(images, **{what: ["a", "b"]})


def test_widget_rejects_mismatched_traits():
    png = _png_bytes()
    with pytest.raises(traitlets.TraitError, match="has 2 images but 1 labels"):
        ImageGrid(images=[png, png], labels=["a"])
    grid = ImageGrid(images=[png, png], labels=["a", "b"])
    with pytest.raises(traitlets.TraitError, match="has 1 images but 2 labels"):
        grid.images = [png]
    assert grid.labels == ["a", "b"]
    # Replacing images and labels together is fine, and prunes the selection.
    grid.selected = [1]
    with grid.hold_trait_notifications():
        grid.images = [png]
        grid.labels = ["c"]
    assert grid.labels == ["c"]
    assert grid.selected == []


def test_selected_is_settable_and_validated():
    png = _png_bytes()
    grid = ImageGrid(images=[png] * 4)
    grid.selected = [3, 0, 3]
    assert grid.selected == [0, 3]
    seen = []
    grid.observe(lambda change: seen.append(change["new"]), names="selected")
    grid.selected = [1]
    assert seen == [[1]]
    with pytest.raises(traitlets.TraitError, match=r"outside 0\.\.3"):
        grid.selected = [4]
    assert grid.selected == [1]


def test_selection_from_the_browser_reaches_python():
    png = _png_bytes()
    grid = ImageGrid(images=[png] * 3)
    grid.set_state({"selected": [2]})  # what a comm message from the front end does
    assert grid.selected == [2]


def test_layout_traits_are_validated():
    with pytest.raises(traitlets.TraitError, match="columns"):
        ImageGrid(columns=0)
    with pytest.raises(traitlets.TraitError, match="thumb_size"):
        ImageGrid(thumb_size=4)


def test_esm_and_css_are_loaded_from_the_assets():
    grid = ImageGrid()
    source = asset_path("image_grid.js").read_text(encoding="utf-8")
    assert grid._esm == source
    assert "export default" in grid._esm
    assert "cvnb-grid-item" in grid._esm
    assert ".cvnb-grid-item" in grid._css
    assert "base64" not in grid._esm


def test_asset_path_finds_the_front_end_sources():
    js = asset_path("image_grid.js")
    assert js.is_file()
    assert js.name == "image_grid.js"
    assert asset_path("image_grid.css").is_file()
    with pytest.raises(FileNotFoundError, match=r"no_such_widget\.js"):
        asset_path("no_such_widget.js")


def test_show_images_on_coco_crops(coco_crops: Path):
    paths = sorted(coco_crops.glob("*/*/*.jpg"))
    table = pd.DataFrame({"path": [str(p) for p in paths], "label": [p.parent.name for p in paths]})
    grid = show_images(table, max_images=16, seed=0, thumb_size=80)
    assert len(grid.images) == 16
    assert grid.error == ""
    assert set(grid.labels) <= {"person", "chair", "cup", "bowl", "teddy_bear"}
    for data in grid.images:
        assert data.startswith(JPEG_MAGIC)
        thumb = _decode(data)
        assert thumb.mode == "RGB"
        assert max(thumb.size) <= 160


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()

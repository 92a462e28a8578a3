"""summarize and Summary on a small table built in tmp_path."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from cvnb.data import Summary, load_images, summarize


@pytest.fixture
def loaded(broken_folder):
    return load_images(broken_folder)


def test_counts_and_totals(loaded):
    s = summarize(loaded)
    assert isinstance(s, Summary)
    assert (s.n_images, s.n_errors, s.n_classes) == (9, 3, 2)
    assert list(s.counts.columns) == ["train", "valid", "total"]
    assert s.counts.loc["total", "total"] == 9
    assert s.counts.loc["cat", "total"] == 4 and s.counts.loc["dog", "total"] == 5
    assert s.counts["total"].drop("total").sum() == 9


def test_sizes_modes_formats_errors(loaded):
    s = summarize(loaded)
    assert list(s.sizes.columns) == ["width", "height", "aspect"]
    assert s.sizes.loc["count", "width"] == 6  # readable images only
    assert s.sizes.loc["min", "height"] == 12
    assert s.modes.to_dict() == {"RGB": 7}  # the truncated JPEG's header was read
    assert s.formats.to_dict() == {"JPEG": 7}
    assert list(s.errors.columns) == ["path", "error"]
    assert len(s.errors) == 3 and s.errors["error"].str.len().gt(0).all()


def test_plot_returns_figure_with_three_axes(loaded):
    fig = summarize(loaded).plot()
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert len(axes) == 3
    assert len(axes[0].patches) == 4  # 2 classes × 2 splits
    assert len(axes[1].collections) == 2  # one scatter per split


def test_plot_without_sizes(broken_folder):
    fig = summarize(load_images(broken_folder, check=False)).plot()
    assert "check=False" in fig.get_axes()[1].texts[0].get_text()


def test_html_and_text(loaded):
    s = summarize(loaded)
    page = s._repr_html_()
    assert "cat" in page and "dog" in page and "<table" in page
    assert "zero.jpg" in page  # bad files are listed
    text = str(s)
    assert text.startswith("9 images, 2 classes, 3 unreadable")
    assert "truncated.jpg" in text
    assert repr(s) == "<Summary: 9 images, 2 classes, 3 unreadable>"


def test_minimal_table_from_another_step():
    df = pd.DataFrame({"path": ["a", "b", "c"], "label": ["x", "y", "x"], "split": "train"})
    s = summarize(df)
    assert s.counts.loc["x", "train"] == 2 and s.n_errors == 0
    assert s.sizes.loc["count", "width"] == 0
    with pytest.raises(ValueError, match="split"):
        summarize(df.drop(columns="split"))


def test_coco_crops_summary(coco_crops):
    s = summarize(load_images(coco_crops))
    assert s.counts.loc["total", "train"] == 117 and s.counts.loc["total", "valid"] == 45
    assert s.counts.loc["bowl", "valid"] == 2
    assert "teddy_bear" in s._repr_html_()

"""subset: a few images per class and split, first rows or seeded."""

from __future__ import annotations

import pandas as pd
import pytest

from cvnb.data import load_images, subset

from ._images import build_class_folder


@pytest.fixture
def table(tmp_path):
    root = tmp_path / "r"
    build_class_folder(root / "train", {"a": 6, "b": 3})
    build_class_folder(root / "valid", {"a": 4, "b": 1})
    return load_images(root, check=False)


def test_keeps_the_first_rows_of_each_class_and_split(table):
    small = subset(table, per_class=2)
    assert small.groupby(["split", "label"]).size().to_dict() == {
        ("train", "a"): 2,
        ("train", "b"): 2,
        ("valid", "a"): 2,
        ("valid", "b"): 1,  # a class with fewer images keeps them all
    }
    first = table.groupby(["split", "label"]).head(2).reset_index(drop=True)
    pd.testing.assert_frame_equal(small, first)
    assert small.attrs["source"] == table.attrs["source"]


def test_seeded_draw_is_repeatable_and_in_table_order(table):
    a = subset(table, per_class=2, seed=1)
    assert a.path.tolist() == subset(table, per_class=2, seed=1).path.tolist()
    assert a.path.tolist() == [p for p in table.path if p in set(a.path)]
    draws = {tuple(subset(table, per_class=2, seed=s).path) for s in range(5)}
    assert len(draws) > 1


def test_rejects_bad_arguments(table):
    with pytest.raises(ValueError, match="at least 1"):
        subset(table, per_class=0)
    with pytest.raises(ValueError, match="load_images"):
        subset(table.drop(columns="split"), per_class=2)

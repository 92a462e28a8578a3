"""make_splits(): a fresh train/valid/test split, stratified by label and seeded."""

from __future__ import annotations

import pandas as pd
import pytest

from cvnb.data import make_splits


def test_each_class_is_split_in_proportion(digits_table):
    out = make_splits(digits_table, valid_pct=0.2, test_pct=0.1, seed=0)
    assert set(out.split) == {"train", "valid", "test"}
    counts = pd.crosstab(out.label, out.split)
    totals = digits_table.label.value_counts()
    for label, row in counts.iterrows():
        n = totals[label]
        assert row["test"] == int(n * 0.1 + 0.5)
        assert row["valid"] == int(n * 0.2 + 0.5)
        assert row.sum() == n
    # the copy keeps everything but the split, in order; the input is untouched
    pd.testing.assert_frame_equal(out.drop(columns="split"), digits_table.drop(columns="split"))
    assert set(digits_table.split) == {"train", "valid"}
    assert out.attrs["splits"]["test_pct"] == 0.1


def test_seeded(digits_table):
    first = make_splits(digits_table, test_pct=0.1, seed=3)
    assert first.split.tolist() == make_splits(digits_table, test_pct=0.1, seed=3).split.tolist()
    assert first.split.tolist() != make_splits(digits_table, test_pct=0.1, seed=4).split.tolist()


def test_no_test_split_by_default_and_unstratified(digits_table):
    assert set(make_splits(digits_table).split) == {"train", "valid"}
    loose = make_splits(digits_table, valid_pct=0.25, stratify=False, seed=1)
    assert (loose.split == "valid").sum() == int(len(digits_table) * 0.25 + 0.5)


def test_a_small_class_still_gets_one_image_per_split():
    df = pd.DataFrame({"path": [f"{i}.png" for i in range(13)], "label": ["a"] * 10 + ["b"] * 3})
    out = make_splits(df, valid_pct=0.1, test_pct=0.1)
    assert pd.crosstab(out.label, out.split).loc["b"].tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"valid_pct": 1.0}, r"valid_pct must be in \[0, 1\)"),
        ({"test_pct": -0.1}, r"test_pct must be in \[0, 1\)"),
        ({"valid_pct": 0.6, "test_pct": 0.4}, "leaves no training images"),
    ],
)
def test_fractions_out_of_range(digits_table, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_splits(digits_table, **kwargs)


def test_a_class_too_small_for_every_split_is_named():
    df = pd.DataFrame({"path": ["1.png", "2.png", "3.png", "4.png"], "label": list("aaab")})
    with pytest.raises(ValueError, match=r"\{'b': 1\} have fewer than 3 images.*stratify=False"):
        make_splits(df, valid_pct=0.3, test_pct=0.3)
    assert set(make_splits(df, valid_pct=0.3, test_pct=0.3, stratify=False).split) <= {
        "train",
        "valid",
        "test",
    }


def test_needs_a_label_column():
    with pytest.raises(ValueError, match="lacks a 'label' column"):
        make_splits(pd.DataFrame({"path": ["a.png"]}))

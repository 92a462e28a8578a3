"""audit_aspect: the cost of each resize policy on a table's sizes, and the recommendation."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from cvnb.augment import AspectAudit, audit_aspect
from cvnb.data import load_images


def _table(sizes: list[tuple[int, int]], **extra) -> pd.DataFrame:
    width, height = zip(*sizes, strict=True)
    n = len(sizes)
    return pd.DataFrame(
        {"path": [f"{i}.jpg" for i in range(n)], "label": "a", "split": "train"}
        | {"width": width, "height": height}
        | extra
    )


def test_measures_per_policy():
    audit = audit_aspect(_table([(200, 100), (100, 100), (100, 125)]))
    table = audit.table
    assert list(table.index) == ["squish", "crop", "letterbox"]
    # 2:1 → crop cuts half, letterbox pads half, squish stretches by a factor 2.
    assert table.loc["crop", "max"] == pytest.approx(0.5)
    assert table.loc["letterbox", "max"] == pytest.approx(0.5)
    assert table.loc["squish", "max"] == pytest.approx(1.0)
    assert table.loc["crop", "median"] == pytest.approx(0.2)  # 100×125 loses 20%
    assert table.loc["crop", "over_5pct"] == 2 and table.loc["crop", "over_20pct"] == 1
    assert table.loc["squish", "over_20pct"] == 2  # factor 1.25 is > 20% distortion
    assert audit.n_images == 3 and audit.n_skipped == 0


def test_square_images_get_squish(digits_table):
    audit = audit_aspect(digits_table, size=48)
    assert audit.recommended == "squish" and "square" in audit.reason
    assert audit.n_upscaled == audit.n_images == len(digits_table)  # 8-px digits grow to 48
    assert (audit.table["over_5pct"] == 0).all()


def test_one_shared_aspect_ratio_gets_squish():
    audit = audit_aspect(_table([(640, 480)] * 30 + [(600, 450)] * 10))
    assert audit.recommended == "squish" and "1.33" in audit.reason and "25%" in audit.reason


def test_mildly_varied_ratios_get_crop():
    # Portrait and landscape, none more than 15% off square.
    audit = audit_aspect(_table([(100, 85)] * 20 + [(85, 100)] * 20 + [(100, 90)] * 10))
    assert audit.recommended == "crop" and "only 0%" in audit.reason


def test_widely_varied_ratios_get_letterbox():
    sizes = [(200, 100), (100, 200), (100, 100), (300, 100), (120, 100)] * 4
    audit = audit_aspect(_table(sizes))
    assert audit.recommended == "letterbox"
    assert "60%" in audit.reason  # 12 of 20 images would lose > 20% to a crop


def test_unreadable_and_unsized_rows_are_skipped():
    df = _table([(200, 100), (100, 100), (50, 50)], error=[None, None, "truncated"])
    df.loc[1, "width"] = None
    audit = audit_aspect(df)
    assert audit.n_images == 1 and audit.n_skipped == 2
    assert list(audit.aspect) == [2.0]


def test_errors():
    with pytest.raises(ValueError, match="check=True"):
        audit_aspect(pd.DataFrame({"path": ["a.jpg"]}))
    with pytest.raises(ValueError, match="no image in the table"):
        audit_aspect(_table([(0, 0)]))


def test_plot_and_html():
    audit = audit_aspect(_table([(200, 100), (100, 200), (100, 100)]))
    assert isinstance(audit, AspectAudit)
    fig = audit.plot()
    assert isinstance(fig, Figure) and len(fig.get_axes()) == 2
    assert len(fig.get_axes()[1].patches) == 6  # 3 policies × 2 thresholds
    page = audit._repr_html_()
    assert "Recommended: letterbox" in page and "<table" in page
    assert "letterbox" in repr(audit)


def test_real_photos(coco_crops):
    df = load_images(coco_crops)
    audit = audit_aspect(df)
    assert audit.n_images == len(df) - df["error"].notna().sum()
    assert audit.recommended in ("squish", "crop", "letterbox")
    assert audit.table.loc["crop", "over_5pct"] > 0  # COCO crops are not square

"""Every widget's stylesheet starts from the shared palette in theme.css."""

from __future__ import annotations

import re

import pytest

from cvnb.widgets import (
    AugmentationExplorer,
    DatasetInspectorWidget,
    ExplainViewer,
    ImageGrid,
    LayerFreezeWidget,
    LRFinderWidget,
)
from cvnb.widgets._assets import asset_path, widget_css

WIDGETS = (
    AugmentationExplorer,
    DatasetInspectorWidget,
    ExplainViewer,
    ImageGrid,
    LayerFreezeWidget,
    LRFinderWidget,
)


@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: w.__name__)
def test_widget_css_is_the_palette_then_its_own_rules(widget):
    css = widget._css.default_value if hasattr(widget._css, "default_value") else widget._css
    theme = asset_path("theme.css").read_text(encoding="utf-8")
    assert css.startswith(theme)
    root = re.search(r"^\.(cvnb-[\w-]+)", css[len(theme) :], re.M).group(1)
    # The widget's root class is one the palette is defined on, so its var(--cvnb-…) resolve.
    assert f".{root}," in theme or f".{root} {{" in theme, root
    assert re.search(rf"^\.{root}\b", css[len(theme) :], re.M)


def test_widget_css_names_a_missing_file():
    with pytest.raises(FileNotFoundError, match=r"no_such\.css"):
        widget_css("no_such.css")

"""Widgets: thin anywidget/ipywidgets views over cvnb's pure functions.

- :class:`ImageGrid` / :func:`show_images`: a thumbnail grid with labels, predictions and
  click-to-select.
"""

from __future__ import annotations

from cvnb.widgets._image_grid import ImageGrid, show_images

__all__ = ["ImageGrid", "show_images"]

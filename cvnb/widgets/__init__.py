"""Widgets: thin anywidget/ipywidgets views over cvnb's pure functions.

- :class:`ImageGrid` / :func:`show_images`: a thumbnail grid with labels, predictions and
  click-to-select.
- :class:`DatasetInspectorWidget` / :func:`inspect_dataset`: a quality report's images,
  filtered and sorted by issue, with exclude / relabel / keep decisions written to a journal.
- :class:`AugmentationExplorer` / :func:`explore_augmentations`: build an albumentations
  pipeline with generated controls and see random draws on your own images.
"""

from __future__ import annotations

from cvnb.widgets._explorer import AugmentationExplorer, explore_augmentations
from cvnb.widgets._image_grid import ImageGrid, show_images
from cvnb.widgets._inspector import DatasetInspectorWidget, inspect_dataset

__all__ = [
    "AugmentationExplorer",
    "DatasetInspectorWidget",
    "ImageGrid",
    "explore_augmentations",
    "inspect_dataset",
    "show_images",
]

"""Widgets: thin anywidget/ipywidgets views over cvnb's pure functions.

- :class:`ImageGrid` / :func:`show_images`: a thumbnail grid with labels, predictions and
  click-to-select.
- :class:`DatasetInspectorWidget` / :func:`inspect_dataset`: a quality report's images,
  filtered and sorted by issue, with exclude / relabel / keep decisions written to a journal.
- :class:`AugmentationExplorer` / :func:`explore_augmentations`: build an albumentations
  pipeline with generated controls and see random draws on your own images.
- :class:`LRFinderWidget`: the learning-rate range test, its suggestions and a rate picker.
- :class:`LayerFreezeWidget`: layer groups with train toggles, discriminative rates and an
  unfreeze schedule, applied to a fastai ``Learner``.
- :class:`ExplainViewer`: Grad-CAM, SHAP and LIME maps of one image side by side, with their
  faithfulness against a random map, picked from the mistakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cvnb._extras import lazy_attributes, require_extra

require_extra("lab", __name__, "ipywidgets", "anywidget", "traitlets")

# Each widget is imported on first use, so `from cvnb.widgets import show_images` loads the
# grid alone: no torch or fastai, which only the training widgets need.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "AugmentationExplorer": "_explorer",
        "explore_augmentations": "_explorer",
        "ExplainViewer": "_explain",
        "LayerFreezeWidget": "_freeze",
        "ImageGrid": "_image_grid",
        "show_images": "_image_grid",
        "DatasetInspectorWidget": "_inspector",
        "inspect_dataset": "_inspector",
        "LRFinderWidget": "_lr_finder",
    },
    extras={"_explain": "train", "_freeze": "train", "_lr_finder": "train"},
)

if TYPE_CHECKING:
    from cvnb.widgets._explain import ExplainViewer
    from cvnb.widgets._explorer import AugmentationExplorer, explore_augmentations
    from cvnb.widgets._freeze import LayerFreezeWidget
    from cvnb.widgets._image_grid import ImageGrid, show_images
    from cvnb.widgets._inspector import DatasetInspectorWidget, inspect_dataset
    from cvnb.widgets._lr_finder import LRFinderWidget

__all__ = [
    "AugmentationExplorer",
    "DatasetInspectorWidget",
    "ExplainViewer",
    "ImageGrid",
    "LRFinderWidget",
    "LayerFreezeWidget",
    "explore_augmentations",
    "inspect_dataset",
    "show_images",
]

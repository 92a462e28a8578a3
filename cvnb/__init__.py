"""cvnb: a Jupyter-first toolkit for the computer-vision model lifecycle.

Subpackages are named by lifecycle step and imported explicitly (``import cvnb.data``), so
that ``import cvnb`` stays cheap and never loads torch or the widget stack. Each needs the
base install or an extra (``pip install 'cvnb[train,lab]'``); a missing extra is named in
the ``ImportError``:

- :mod:`cvnb.data`      load image tables, read images robustly, summarize a dataset (base)
- :mod:`cvnb.datasets`  embedded offline default datasets (scikit-learn digits as files) (base)
- :mod:`cvnb.augment`   resize policies, augmentation pipelines (base)
- :mod:`cvnb.quality`   the quality scan and the cleaning journal
- :mod:`cvnb.models`    timm backbones with offline pretrained weights, layer groups (train)
- :mod:`cvnb.train`     fastai ``Learner`` built from the dataset table, and its tuning (train)
- :mod:`cvnb.evaluate`  predictions over the dataset table (train)
- :mod:`cvnb.export`    ONNX export and parity (train); ``load_onnx`` inference (base)
- :mod:`cvnb.widgets`   anywidget/ipywidgets views over the functions above (lab)

The ``cvnb`` command (:mod:`cvnb.cli`) copies the notebooks out (``cvnb notebooks DIR``) and
runs the demo (``cvnb demo``). How the pieces fit: ``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]

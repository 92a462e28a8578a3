"""cvnb: a Jupyter-first toolkit for the computer-vision model lifecycle.

Subpackages are named by lifecycle step and imported explicitly (``import cvnb.data``), so
that ``import cvnb`` stays cheap and never loads torch or the widget stack:

- :mod:`cvnb.data`      load image tables, read images robustly, summarize a dataset
- :mod:`cvnb.datasets`  embedded offline default datasets (scikit-learn digits as files)
- :mod:`cvnb.models`    timm backbones with offline pretrained weights, layer groups
- :mod:`cvnb.train`     fastai ``Learner`` built from the dataset table
- :mod:`cvnb.export`    ONNX export and parity report
- :mod:`cvnb.widgets`   anywidget/ipywidgets views over the functions above
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]

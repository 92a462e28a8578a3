"""Export: ONNX with the preprocessing recorded, checked, and compared with torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cvnb._extras import lazy_attributes

# Names load on first use: inference (load_onnx) needs only onnxruntime, so a serving host
# without torch can run it; exporting and the parity check need the 'train' extra.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "OnnxExport": "_onnx",
        "export_onnx": "_onnx",
        "ParityReport": "_parity",
        "parity_report": "_parity",
        "OnnxClassifier": "_runtime",
        "load_onnx": "_runtime",
    },
    extras={"_onnx": "train", "_parity": "train"},
)

if TYPE_CHECKING:
    from ._onnx import OnnxExport, export_onnx
    from ._parity import ParityReport, parity_report
    from ._runtime import OnnxClassifier, load_onnx

__all__ = [
    "OnnxClassifier",
    "OnnxExport",
    "ParityReport",
    "export_onnx",
    "load_onnx",
    "parity_report",
]

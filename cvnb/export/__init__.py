"""Export: ONNX with the preprocessing recorded, checked, and compared with torch."""

from __future__ import annotations

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

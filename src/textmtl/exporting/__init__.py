"""Exporters of finished runs (`textmtl export RUN --format NAME`), one module each:
`hf` (a transformers folder per task) and `onnx` (an ONNX graph per task, any encoder)."""

from .base import Exporter, export_run
from .hf import HuggingFaceExporter
from .onnx import OnnxExporter

__all__ = ["Exporter", "HuggingFaceExporter", "OnnxExporter", "export_run"]

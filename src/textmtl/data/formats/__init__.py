"""Data formats of custom tasks (`data.custom_tasks[].format`), one module each.

A format is a `RecordReader` registered with ``textmtl.registry.formats``: it turns a file and a
column mapping into raw records; `textmtl.data.readers` turns records into examples (labels,
checks, skipping). Adding a format (e.g. parquet) is one new module.
"""

from .base import BadRecord, RecordReader, Records, TextRecordReader, format_for_suffix
from .delimited import CsvReader, TsvReader
from .jsonl import JsonlReader

__all__ = [
    "BadRecord",
    "RecordReader",
    "Records",
    "TextRecordReader",
    "format_for_suffix",
    "CsvReader",
    "TsvReader",
    "JsonlReader",
]

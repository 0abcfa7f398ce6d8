"""Data formats of custom tasks (`data.custom_tasks[].format`), one module each.

A format is a `RecordReader` registered with ``textmtl.registry.formats``: it turns a file and a
column mapping into raw records; `textmtl.data.readers` turns records into examples (labels,
checks, skipping). Adding a format is one new module (`arrow.py` holds parquet, Arrow, `save_to_disk`
folders and in-memory `datasets.Dataset` objects).
"""

from .arrow import ArrowReader, DatasetObjectReader, InMemoryDataset, ParquetReader, SavedDatasetReader
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
    "ParquetReader",
    "ArrowReader",
    "SavedDatasetReader",
    "DatasetObjectReader",
    "InMemoryDataset",
]

"""Columnar data, the Hugging Face `datasets` way: parquet files, Arrow files, `save_to_disk` folders
and in-memory `Dataset` objects, all read through pyarrow (no `datasets` import is needed to read
files). Rows are numbered from 1 in messages. A `ClassLabel` feature's names (stored by `datasets`
in the schema metadata, or on the in-memory object) become the task's label names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ...errors import ConfigError, DataError
from ...registry import formats
from .base import BadRecord, RecordReader, Records

SAVED_DATASET_FILES = ("state.json", "dataset_info.json")  # what `Dataset.save_to_disk` writes beside its .arrow files
SAVED_DICT_FILE = "dataset_dict.json"  # `DatasetDict.save_to_disk`: this file and one folder per split


def _pyarrow() -> Any:
    import pyarrow

    return pyarrow


def class_label_names(features: Mapping[str, Any] | None, column: str | int) -> tuple[str, ...] | None:
    """The names of `column` if `features` (a `datasets` features dict, as JSON) says it is a ClassLabel."""
    if not features or not isinstance(column, str):
        return None
    feature = features.get(column)
    if isinstance(feature, Mapping) and feature.get("_type") == "ClassLabel" and feature.get("names"):
        return tuple(str(n) for n in feature["names"])
    return None


def _features_of_schema(schema: Any) -> dict[str, Any] | None:
    """The `datasets` features stored in an Arrow schema's metadata (`to_parquet`, `save_to_disk`)."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if raw is None:
        return None
    try:
        info = json.loads(raw)
    except ValueError:
        return None
    features = (info.get("info") or {}).get("features") if isinstance(info, dict) else None
    return features if isinstance(features, dict) else None


def table_records(source: Path, schema: Any, batches: Iterable[Any], columns: Mapping[str, str | int]) -> Records:
    """Records of Arrow record batches through the column mapping (names, or 0-based positions)."""
    names = list(schema.names)
    picked: dict[str, str] = {}
    for key, col in columns.items():
        if isinstance(col, int) and not isinstance(col, bool):
            if not 0 <= col < len(names):
                raise ConfigError(f"columns.{key}: position {col} is outside the {len(names)} columns of {source}")
            picked[key] = names[col]
        elif col in names:
            picked[key] = str(col)
        else:
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise DataError(source, f"column {col!r} (for {key}) not found; the table has: {shown}")
    row = 0
    for batch in batches:
        values = {key: batch.column(batch.schema.get_field_index(name)).to_pylist() for key, name in picked.items()}
        for i in range(batch.num_rows):
            row += 1
            record = {key: column[i] for key, column in values.items()}
            missing = [picked[k] for k, v in record.items() if v is None]
            if missing:
                yield row, BadRecord(row, f"row {row}: no value (null) in column {', '.join(missing)}")
                continue
            yield row, record


class ArrowTableReader(RecordReader):
    """A columnar format: `open` gives the schema and the record batches of a source."""

    def open(self, source: Any) -> tuple[Any, Iterable[Any]]:
        raise NotImplementedError

    def records(
        self, path: Path, columns: Mapping[str, str | int], *, has_header: bool = True, latin1_fallback: bool = False
    ) -> Records:
        del has_header, latin1_fallback  # columnar files name their columns and hold text, not bytes
        schema, batches = self.open(path)
        return table_records(path, schema, batches, columns)

    def label_names(self, source: Any, column: str | int) -> tuple[str, ...] | None:
        schema, _ = self.open(source)
        return class_label_names(_features_of_schema(schema), column)


def _checked_file(path: Path) -> Path:
    if not path.exists():
        raise DataError(path, "file not found")
    if path.is_dir():
        raise DataError(path, "is a directory, expected a file (a save_to_disk folder? give it as `dataset:`)")
    return path


@formats.register("parquet", suffixes=(".parquet", ".pq"))
class ParquetReader(ArrowTableReader):
    """Parquet (`Dataset.to_parquet`, pandas, Spark): read in row groups."""

    def open(self, source: Any) -> tuple[Any, Iterable[Any]]:
        import pyarrow.parquet as pq

        try:
            handle = pq.ParquetFile(str(_checked_file(Path(source))))
        except _pyarrow().ArrowException as exc:
            raise DataError(source, f"not a readable parquet file ({str(exc).splitlines()[0]})") from None
        return handle.schema_arrow, handle.iter_batches(batch_size=4096)


def _open_ipc(path: Path) -> tuple[Any, Iterable[Any]]:
    """An Arrow IPC stream (what `datasets` writes) or an Arrow IPC file (Feather v2)."""
    pa = _pyarrow()
    path = _checked_file(path)
    try:
        reader = pa.ipc.open_stream(pa.memory_map(str(path)))
        return reader.schema, reader
    except pa.ArrowInvalid:
        pass
    try:
        handle = pa.ipc.open_file(pa.memory_map(str(path)))
    except pa.ArrowException as exc:
        raise DataError(path, f"not a readable Arrow file ({str(exc).splitlines()[0]})") from None
    return handle.schema, (handle.get_batch(i) for i in range(handle.num_record_batches))


@formats.register("arrow", suffixes=(".arrow", ".feather"))
class ArrowReader(ArrowTableReader):
    """Arrow IPC, stream or file (the `.arrow` files of a `save_to_disk` folder, Feather v2)."""

    def open(self, source: Any) -> tuple[Any, Iterable[Any]]:
        return _open_ipc(Path(source))


def saved_dataset_files(folder: Path) -> tuple[list[Path], dict[str, Any] | None]:
    """The .arrow files of a `Dataset.save_to_disk` folder, in order, and its features."""
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        files = [folder / str(f["filename"]) for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(folder, f"not a Dataset.save_to_disk folder (state.json: {type(exc).__name__})") from None
    features = None
    if (folder / "dataset_info.json").is_file():
        try:
            features = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8")).get("features")
        except (OSError, ValueError, AttributeError):
            features = None
    return files, features


@formats.register("hf-disk", suffixes=())
class SavedDatasetReader(ArrowTableReader):
    """A folder written by `Dataset.save_to_disk` (state.json, dataset_info.json, data-*.arrow)."""

    def open(self, source: Any) -> tuple[Any, Iterable[Any]]:
        folder = Path(source)
        if not folder.is_dir():
            raise DataError(folder, "expected a folder written by Dataset.save_to_disk")
        files, _ = saved_dataset_files(folder)
        if not files:
            raise DataError(folder, "the saved dataset has no data files")
        schema, first = _open_ipc(files[0])

        def batches() -> Iterator[Any]:
            yield from first
            for f in files[1:]:
                yield from _open_ipc(f)[1]

        return schema, batches()

    def label_names(self, source: Any, column: str | int) -> tuple[str, ...] | None:
        _, features = saved_dataset_files(Path(source))
        return class_label_names(features, column)


class InMemoryDataset:
    """A `datasets.Dataset` given from Python (`textmtl.train(config, datasets={...})`), with the name
    messages use for it (`<Dataset books/train>`)."""

    def __init__(self, dataset: Any, name: str) -> None:
        if not hasattr(dataset, "data") or not hasattr(dataset, "features"):
            raise ConfigError(f"{name}: expected a datasets.Dataset, got {type(dataset).__name__}")
        self.dataset = dataset
        self.name = name

    def __str__(self) -> str:
        return self.name

    def __fspath__(self) -> str:  # messages and Path() show the name
        return self.name


@formats.register("dataset", suffixes=())
class DatasetObjectReader(ArrowTableReader):
    """An in-memory `datasets.Dataset` (its Arrow table, with any `select`/`filter` indices applied)."""

    def open(self, source: Any) -> tuple[Any, Iterable[Any]]:
        if not isinstance(source, InMemoryDataset):
            raise ConfigError(f"format 'dataset' is for datasets.Dataset objects given from Python, not {source}")
        dataset = source.dataset
        if getattr(dataset, "_indices", None) is not None:
            dataset = dataset.flatten_indices()
        table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
        return table.schema, table.to_batches(max_chunksize=4096)

    def records(
        self, path: Any, columns: Mapping[str, str | int], *, has_header: bool = True, latin1_fallback: bool = False
    ) -> Records:
        del has_header, latin1_fallback
        schema, batches = self.open(path)
        return table_records(path, schema, batches, columns)

    def label_names(self, source: Any, column: str | int) -> tuple[str, ...] | None:
        if not isinstance(source, InMemoryDataset) or not isinstance(column, str):
            return None
        feature = source.dataset.features.get(column)
        names = getattr(feature, "names", None)
        return tuple(str(n) for n in names) if names and type(feature).__name__ == "ClassLabel" else None

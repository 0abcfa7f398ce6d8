"""CONTRIBUTING recipe 3, a data format: a JSON array of objects (`format: json_array`, `*.json`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from textmtl.data.formats import BadRecord, RecordReader, Records
from textmtl.errors import DataError
from textmtl.registry import formats


@formats.register("json_array", suffixes=(".json",))
class JsonArrayReader(RecordReader):
    """Toy: one JSON array of objects per file; columns are the objects' keys."""

    positional = False  # columns are key names, never positions

    def records(self, path: Path, columns: Mapping[str, str | int], *, has_header: bool = True,
                latin1_fallback: bool = False) -> Records:
        del has_header, latin1_fallback
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(path, f"expected a JSON array of objects ({exc})") from None
        if not isinstance(rows, list):
            raise DataError(path, "expected a JSON array of objects")
        for n, row in enumerate(rows, start=1):
            missing = [str(c) for c in columns.values() if not isinstance(row, dict) or c not in row]
            if missing:
                yield n, BadRecord(n, f"object {n}: missing key(s) {', '.join(missing)}")
                continue
            yield n, {key: row[col] for key, col in columns.items()}

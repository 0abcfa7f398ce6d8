"""JSON Lines: one JSON object per line; `columns` name keys of the object."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from ...registry import formats
from .base import BadRecord, Records, TextRecordReader


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """`json.loads`' object hook: an object with a key given twice is an error, not the last value."""
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


@formats.register("jsonl", suffixes=(".jsonl", ".ndjson"))
class JsonlReader(TextRecordReader):
    """JSON Lines (`Dataset.to_json` writes it): one object per line, columns are its keys."""

    positional = False

    def text_records(self, path: Path, text: str, columns: Mapping[str, str | int], has_header: bool) -> Records:
        from ..readers import quote, split_lines

        del path, has_header
        for n, line in enumerate(split_lines(text), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                yield n, BadRecord(n, f"invalid JSON ({exc.msg}): {quote(line)}")
                continue
            except _DuplicateKey as exc:
                yield n, BadRecord(n, f"key {exc.args[0]!r} is given twice in one object: {quote(line)}")
                continue
            except (ValueError, RecursionError) as exc:  # e.g. integers too long, nesting too deep
                yield n, BadRecord(n, f"invalid JSON ({type(exc).__name__}): {quote(line)}")
                continue
            if not isinstance(obj, dict):
                yield n, BadRecord(n, f"expected a JSON object, got {quote(line)}")
                continue
            missing = [str(col) for col in columns.values() if col not in obj]
            if missing:
                yield n, BadRecord(n, f"missing key(s) {', '.join(missing)} in {quote(line)}")
                continue
            yield n, {key: obj[col] for key, col in columns.items()}

"""Delimited text: CSV (standard quoting) and TSV (one record per line, no quoting)."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ...errors import ConfigError, DataError
from ...registry import formats
from .base import BadRecord, Records, TextRecordReader


class DelimitedReader(TextRecordReader):
    """Rows of fields, with a header line (columns by name) or without (columns by 0-based position)."""

    delimiter = ","

    def rows(self, path: Path, lines: list[str]) -> Iterator[tuple[int, list[str] | BadRecord]]:
        raise NotImplementedError

    def text_records(self, path: Path, text: str, columns: Mapping[str, str | int], has_header: bool) -> Records:
        from ..readers import quote, split_lines

        rows = self.rows(path, split_lines(text))
        positions: dict[str, int] = {}
        if has_header:
            first = next(rows, None)
            if first is None:
                raise DataError(path, "file is empty")
            header_line, header = first
            if isinstance(header, BadRecord):
                raise DataError(path, f"cannot read the header: {header.message}", line=header_line)
            header = [h.strip() for h in header]
            for key, col in columns.items():
                if isinstance(col, int):
                    positions[key] = col
                elif header.count(col) > 1:
                    where = ", ".join(str(i + 1) for i, h in enumerate(header) if h == col)
                    raise DataError(
                        path,
                        f"column {col!r} (for {key}) appears more than once in the header (columns {where})",
                        line=header_line,
                    )
                elif col in header:
                    positions[key] = header.index(col)
                else:
                    found = ", ".join(quote(h, 20) for h in header[:12]) + (", ..." if len(header) > 12 else "")
                    hint = (
                        "; if the file has no header line, set has_header: false and give columns as 0-based "
                        "positions (text: 1, label: 0)"
                    )
                    raise DataError(
                        path, f"column {col!r} (for {key}) not found; the header has: {found}{hint}", line=header_line
                    )
        else:
            for key, col in columns.items():
                if not isinstance(col, int):
                    raise ConfigError(
                        f"columns.{key}: {col!r} is a name but has_header is false; give a 0-based position"
                    )
                positions[key] = col

        needed = max(positions.values()) + 1
        for n, row in rows:
            if isinstance(row, BadRecord):
                yield n, row
                continue
            if len(row) <= 1 and not "".join(row).strip():
                continue  # blank line
            if len(row) < needed:
                shown = quote(self.delimiter.join(row))
                yield n, BadRecord(n, f"expected at least {needed} fields, got {len(row)}: {shown}")
                continue
            record: dict[str, Any] = {key: row[pos] for key, pos in positions.items()}
            yield n, record


@formats.register("csv", suffixes=(".csv",))
class CsvReader(DelimitedReader):
    """CSV with standard quoting (a quoted field may span lines)."""

    def rows(self, path: Path, lines: list[str]) -> Iterator[tuple[int, list[str] | BadRecord]]:
        """CSV records with the 1-based line each starts on."""
        del path
        reader = csv.reader((line + "\n" for line in lines), strict=False)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, BadRecord(start, f"malformed CSV ({exc})")
                continue
            yield start, row


@formats.register("tsv", suffixes=(".tsv", ".tab"))
class TsvReader(DelimitedReader):
    """Tab-separated, one record per physical line and no quoting (GLUE TSVs hold unbalanced quotes)."""

    delimiter = "\t"

    def rows(self, path: Path, lines: list[str]) -> Iterator[tuple[int, list[str] | BadRecord]]:
        del path
        return ((n, line.split("\t")) for n, line in enumerate(lines, start=1))

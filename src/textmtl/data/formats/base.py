"""The reader interface: records (raw values by column key) from a path and a column mapping."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ...registry import formats

__all__ = ["BadRecord", "RecordReader", "Records", "TextRecordReader", "format_for_suffix"]


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A malformed record: the caller turns it into a DataError naming file and line, or skips it."""

    line: int
    message: str


#: `(line or row number, {column key: raw value})`, or `(n, BadRecord)` for a malformed record.
Records = Iterator[tuple[int, "dict[str, Any] | BadRecord"]]


class RecordReader(ABC):
    """Reads one file format. Register a subclass with
    ``@formats.register("name", suffixes=(".ext",))``; the name is what `format:` takes, the
    suffixes let the format be inferred from a file name.

    `records` yields, for every non-blank record, its 1-based line (or row) number and a dict
    mapping each key of `columns` ("text", "text_pair", "label", "tokens") to the raw value of the
    column it names; a record that cannot be read yields a `BadRecord` instead. A missing column
    (a header without it) raises `DataError` at once.
    """

    #: whether `columns` may give 0-based positions (headerless files), not only names/keys
    positional: ClassVar[bool] = True

    @abstractmethod
    def records(
        self, path: Path, columns: Mapping[str, str | int], *, has_header: bool = True, latin1_fallback: bool = False
    ) -> Records:
        """The file's records through the column mapping."""

    def label_names(self, source: Path, column: str | int) -> tuple[str, ...] | None:
        """The names the file itself gives the labels of `column` (a `datasets` ClassLabel), or None:
        the label values are then the names."""
        del source, column
        return None


class TextRecordReader(RecordReader):
    """A line-oriented text format: the file is decoded (UTF-8, optional latin-1 fallback) first."""

    def records(
        self, path: Path, columns: Mapping[str, str | int], *, has_header: bool = True, latin1_fallback: bool = False
    ) -> Records:
        from ..readers import read_text_file

        return self.text_records(path, read_text_file(path, latin1_fallback=latin1_fallback), columns, has_header)

    @abstractmethod
    def text_records(self, path: Path, text: str, columns: Mapping[str, str | int], has_header: bool) -> Records:
        """Records of the decoded `text` of `path`."""


def format_for_suffix(path: Path) -> str | None:
    """The registered format whose suffixes include `path`'s (`hf-disk` for a `save_to_disk` folder), or None."""
    if path.is_dir() and (path / "state.json").is_file():
        return "hf-disk"
    suffix = path.suffix.lower()
    for entry in formats.entries():
        if suffix in entry.extra.get("suffixes", ()):
            return entry.name
    return None

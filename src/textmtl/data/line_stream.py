"""Lazy line reading: a text file of any size, one decoded line at a time, in bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from textmtl.errors import DataError

MAX_LINE_BYTES = 16 * 2**20
_BOM = b"\xef\xbb\xbf"


_WIDE_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def check_not_utf16(path: Path, head: bytes) -> None:
    """DataError for a file that starts with a UTF-16 or UTF-32 byte-order mark (read as UTF-8 or
    latin-1 it would become other text and other lines)."""
    for bom, name in _WIDE_BOMS.items():
        if head.startswith(bom):
            raise DataError(path, f"is {name} (it starts with a {name} byte-order mark); re-save it as UTF-8")


class LineStream:
    """The lines of a file as `(line_number, text)`, read lazily (1-based numbers).

    Same rules as `read_text_file` + `split_lines`, applied per line: a leading BOM is
    stripped, lines end at "\\n" only (a trailing "\\r" is removed), each line is decoded as
    UTF-8 or, if that fails, as latin-1. `bytes_read` counts the bytes consumed so far and
    `size` is the file size (for a progress bar). A line longer than `max_line_bytes` is a
    DataError, so memory stays bounded whatever the file holds.
    """

    def __init__(self, path: str | Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.path = Path(path)
        self.max_line_bytes = max_line_bytes
        self.bytes_read = 0
        # opened once and peeked at, never read twice: a pipe (`/dev/stdin`, `<(cmd)`, a FIFO) gives
        # its bytes only once
        try:
            if self.path.is_dir():
                raise DataError(self.path, "is a directory, expected a file")
            stat = self.path.stat()
            self.size = stat.st_size if self.path.is_file() else 0
            self._fh = open(self.path, "rb")  # noqa: SIM115 - closed when iterated (or by __del__)
            head = self._fh.peek(8)[:8]
        except FileNotFoundError:
            raise DataError(self.path, "file not found") from None
        except OSError as exc:
            raise DataError(self.path, f"cannot read file ({exc.strerror or exc})") from None
        check_not_utf16(self.path, head)
        if not head or head == _BOM:
            self._fh.close()
            raise DataError(self.path, "file is empty")

    def __iter__(self) -> Iterator[tuple[int, str]]:
        fh = self._fh
        if fh.closed:
            raise DataError(self.path, "already read (a stream of lines is read once)")
        with fh:
            number = 0
            while True:
                try:
                    raw = fh.readline(self.max_line_bytes + 1)
                except OSError as exc:
                    raise DataError(self.path, f"cannot read file ({exc.strerror or exc})", line=number + 1) from None
                if not raw:
                    return
                number += 1
                self.bytes_read += len(raw)
                if raw.endswith(b"\n"):
                    raw = raw[:-1]
                if len(raw) > self.max_line_bytes:
                    raise DataError(self.path, f"line is longer than {self.max_line_bytes} bytes", line=number)
                if number == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("latin-1")
                yield number, text


def prediction_inputs(
    lines: Iterator[tuple[int, str]] | LineStream, path: str | Path, *, pair: bool | None
) -> Iterator[str | tuple[str, str]]:
    """Prediction inputs from `(line_number, text)` pairs, lazily.

    `pair=True` (pair tasks): every line must be `text<TAB>text_pair` (DataError naming file
    and line otherwise); `pair=False`: the whole line is one text, tabs included;
    `pair=None` (regression, which may be either): a line with a tab is a pair.
    """
    for number, text in lines:
        if pair is False or (pair is None and "\t" not in text):
            yield text
            continue
        first, tab, second = text.partition("\t")
        if not tab:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise DataError(path, f"expected 'text<TAB>text_pair' for a pair task, got {shown!r}", line=number)
        yield first, second

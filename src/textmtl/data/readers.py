"""Low-level file readers: bytes -> text -> lines -> `Example`s, raising only `DataError`.

Every reader returns `(examples, skipped)`: `skipped` counts bad lines dropped because
`skip_bad_lines=True`. Line numbers in messages are 1-based and count every physical line
of the file, header included.
"""

from __future__ import annotations

import errno
import json
import math
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from textmtl.data.formats import BadRecord, RecordReader
from textmtl.data.line_stream import check_not_utf16
from textmtl.data.tasks import Example, TaskKind
from textmtl.errors import ConfigError, DataError
from textmtl.registry import formats

TableFormat = str  # a registered format name (`textmtl list formats`)
COLUMN_KEYS: tuple[str, ...] = ("text", "text_pair", "label", "tokens")

_BOM = b"\xef\xbb\xbf"
_QUOTE_CHARS = 40


def quote(text: str, limit: int = _QUOTE_CHARS) -> str:
    """A one-line, at most ~`limit`-character quotation of `text` for error messages."""
    short = text if len(text) <= limit else text[:limit] + "..."
    return repr(short)


def describe_labels(labels: Iterable[object]) -> str:
    """`{neg, pos}`; a label that is empty, padded or holds control characters is quoted."""
    shown = [text if text and text.isprintable() and text.strip() == text else quote(text) for text in map(str, labels)]
    return "{" + ", ".join(shown) + "}"


# --------------------------------------------------------------------------- text


def read_text_file(path: str | Path, *, latin1_fallback: bool = False) -> str:
    """Read a whole file as text: UTF-8 (leading BOM stripped), else latin-1 if allowed.

    Raises DataError for a missing, unreadable or empty file, and for invalid UTF-8 when
    `latin1_fallback` is False (naming the line of the first undecodable byte).
    """
    path = Path(path)
    check_regular_file(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise DataError(path, f"cannot read file ({exc.strerror or exc})") from None
    check_not_utf16(path, data[:4])
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if not data.strip():
        raise DataError(path, "file is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if latin1_fallback:
            return data.decode("latin-1")
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            path,
            f"is not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); re-save the file as UTF-8",
            line=line,
        ) from None


def check_regular_file(path: Path) -> None:
    """DataError for what is not a regular file: a directory, a FIFO, a socket, a device
    (`/dev/null`), a symlink loop or a missing file, each said as such."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(path, "is a symlink loop, expected a file") from None
        raise DataError(path, f"cannot read file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise DataError(path, "is a directory, expected a file")
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else ("a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        )
        raise DataError(path, f"is {kind}, expected a regular file")


def split_lines(text: str) -> list[str]:
    """Split on "\\n" only (never `str.splitlines`, which also breaks on \\x85 etc.).

    A final empty line (the file's trailing newline) is dropped and a trailing "\\r" is
    stripped from every line.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# --------------------------------------------------------------------------- FDU-MTL


def read_fdu_mtl_file(
    path: str | Path,
    *,
    labels: Sequence[str] = ("0", "1"),
    labelled: bool = True,
    skip_bad_lines: bool = False,
    skip_empty_text: bool = False,
) -> tuple[list[Example], int]:
    """Read an FDU-MTL file: `label<TAB>text` lines, or raw text lines if not `labelled`.

    The label index is the label's position in `labels`. The file is decoded as UTF-8
    with a latin-1 fallback (four FDU-MTL files are not UTF-8). `skip_empty_text` drops
    lines whose text is empty even when `skip_bad_lines` is False (one such line exists
    in the real `sports_outdoors.task.train`); they are counted as skipped.
    """
    text = read_text_file(path, latin1_fallback=True)
    index = {label: i for i, label in enumerate(labels)}
    label_set = describe_labels(labels)
    examples: list[Example] = []
    skipped = 0
    for n, line in enumerate(split_lines(text), start=1):
        if labelled:
            label, tab, body = line.partition("\t")
            body = body.strip()
            ok = bool(tab) and label.strip() in index and bool(body)
            if ok:
                examples.append(Example(body, index[label.strip()]))
                continue
            if skip_bad_lines or (skip_empty_text and tab and label.strip() in index):
                skipped += 1
                continue
            raise DataError(path, f"expected 'label<TAB>text' with label in {label_set}, got {quote(line)}", line=n)
        body = line.strip()
        if body:
            examples.append(Example(body, None))
        elif skip_bad_lines or skip_empty_text:
            skipped += 1
        else:
            raise DataError(path, "expected a line of text, got an empty line", line=n)
    return examples, skipped


# --------------------------------------------------------------------------- tables


def _check_columns(columns: Mapping[str, str | int], kind: TaskKind | None, reader: RecordReader) -> None:
    unknown = sorted(set(columns) - set(COLUMN_KEYS))
    if unknown:
        raise ConfigError(f"columns: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(COLUMN_KEYS)}")
    if kind == TaskKind.TAGGING:
        if "tokens" not in columns:
            raise ConfigError("columns: tagging tasks need a 'tokens' column")
    elif "text" not in columns:
        raise ConfigError("columns: a 'text' column is required")
    if kind == TaskKind.PAIR_CLASSIFICATION and "text_pair" not in columns:
        raise ConfigError("columns: pair_classification tasks need a 'text_pair' column")
    for key, col in columns.items():
        if isinstance(col, bool) or not isinstance(col, (str, int)):
            raise ConfigError(f"columns.{key}: expected a column name or a 0-based position, got {col!r}")
        if isinstance(col, int) and (not reader.positional or col < 0):
            what = f"a key name for {reader_name(reader)} files" if not reader.positional else "a position >= 0"
            raise ConfigError(f"columns.{key}: expected {what}, got {col!r}")


def reader_for(fmt: str) -> RecordReader:
    """An instance of the registered format `fmt` (ConfigError naming the valid formats otherwise)."""
    if fmt not in formats:
        raise ConfigError(f"format: expected one of {', '.join(formats.names())}, got {fmt!r}")
    return formats.get(fmt)()


def reader_name(reader: RecordReader) -> str:
    return next((e.name for e in formats.entries() if e.obj is type(reader)), type(reader).__name__)


def _convert(
    record: Mapping[str, Any],
    kind: TaskKind,
    index: Mapping[str, int] | None,
    label_desc: str,
) -> Example:
    """Turn one raw record into an Example; raise ValueError(message) if it is bad."""
    label: int | float | tuple[int, ...] | None = None
    tokens: tuple[str, ...] | None = None
    if kind == TaskKind.TAGGING:
        tokens = tuple(_as_list(record["tokens"], "tokens"))
        if not tokens:
            raise ValueError("empty tokens")
        text = " ".join(tokens)
    else:
        text = _as_text(record["text"], "text")
    pair = _as_text(record["text_pair"], "text_pair") if "text_pair" in record else None
    if "label" in record:
        raw = record["label"]
        if kind == TaskKind.REGRESSION:
            label = _as_float(raw)
        elif kind == TaskKind.TAGGING:
            assert index is not None and tokens is not None
            tags = _as_list(raw, "label")
            if len(tags) != len(tokens):
                raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
            try:
                label = tuple(index[tag] for tag in tags)
            except KeyError as exc:
                raise ValueError(f"unknown tag {quote(str(exc.args[0]))}, expected one of {label_desc}") from None
        else:
            assert index is not None
            key = _label_key(raw)
            if key not in index:
                raise ValueError(f"unknown label {quote(key)}, expected one of {label_desc}")
            label = index[key]
    return Example(text, label, pair, tokens)


def _valid_unicode(value: str, what: str) -> str:
    """`value`, unless it holds a lone surrogate (JSON can escape one: "\\ud800"); tokenizers reject those."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} holds an unpaired surrogate {value[exc.start]!r}, which is not text") from None
    return value


def _as_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string: {quote(repr(value))}")
    value = _valid_unicode(value.strip(), what)
    if not value:
        raise ValueError(f"empty {what}")
    return value


def _as_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return _valid_unicode(value, what).split()
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return [_valid_unicode(str(v), what) for v in value]
    raise ValueError(f"{what} must be a list of strings or a space-separated string, got {quote(repr(value))}")


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"regression label is not a number: {value!r}")
    try:
        result = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"regression label is not a number: {quote(str(value))}") from None
    if not math.isfinite(result):
        raise ValueError(f"regression label is not finite: {quote(str(value))}")
    return result


def _label_key(value: Any) -> str:
    """The string form of a classification label (JSON ints -> "1"; floats 1.0 -> "1"). A label
    that is no scalar (null, a list, an object) or not a number (NaN) is a ValueError."""
    if value is None or isinstance(value, (list, dict, tuple)):
        raise ValueError(f"a label must be a string or a number, got {quote(json.dumps(value))}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a label must be a string or a finite number, got {value!r}")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_table_file(
    path: str | Path,
    *,
    fmt: TableFormat,
    columns: Mapping[str, str | int],
    kind: TaskKind,
    labels: Sequence[str] | None,
    has_header: bool = True,
    skip_bad_lines: bool = False,
    latin1_fallback: bool = False,
    label_index: Mapping[str, int] | None = None,
) -> tuple[list[Example], int]:
    """Read a file of a registered format (CSV, TSV, JSONL, ...) into Examples through a column mapping.

    `columns` maps "text", "text_pair", "label" (and "tokens" for tagging) to header names,
    or to 0-based positions when `has_header` is False. Without a "label" column the
    examples are unlabelled. Labels: classification -> index into `labels`; regression ->
    float; tagging -> tuple of indices into `labels` (a JSON list or space-separated tags).
    Classification and tagging need `labels` (see `infer_labels`). TSV is read with
    `QUOTE_NONE` (one record per line); CSV with standard quoting. Blank lines are ignored.
    `label_index` maps raw label values to indices into `labels` (a label mapping, or a ClassLabel's
    integers); by default a raw value must equal one of `labels`. `path` may also be an in-memory
    source of the format (`formats.InMemoryDataset`).
    """
    source, path = path, Path(path)
    kind = TaskKind(kind)
    reader = reader_for(fmt)
    _check_columns(columns, kind, reader)
    index: dict[str, int] | None = None
    label_desc = ""
    if "label" in columns and kind != TaskKind.REGRESSION:
        if not labels:
            raise ConfigError(f"reading {path.name}: {kind} tasks need a label set (labels: [...])")
        index = dict(label_index) if label_index is not None else {str(label): i for i, label in enumerate(labels)}
        label_desc = describe_labels(index)
    examples: list[Example] = []
    skipped = 0
    for n, record in reader.records(source, columns, has_header=has_header, latin1_fallback=latin1_fallback):  # type: ignore[arg-type]
        if isinstance(record, BadRecord):
            message = record.message
        else:
            try:
                examples.append(_convert(record, kind, index, label_desc))
                continue
            except ValueError as exc:
                message = str(exc)
        if skip_bad_lines:
            skipped += 1
            continue
        raise DataError(path, message, line=n)
    return examples, skipped


def collect_labels(values: Iterable[str]) -> tuple[str, ...]:
    """Sorted unique label strings; numerically sorted when all are integers ("2" < "10")."""
    unique = set(values)
    try:
        return tuple(sorted(unique, key=int))
    except ValueError:
        return tuple(sorted(unique))


def infer_labels(
    path: str | Path,
    *,
    fmt: TableFormat,
    columns: Mapping[str, str | int],
    kind: TaskKind,
    has_header: bool = True,
    latin1_fallback: bool = False,
) -> tuple[str, ...]:
    """The label set found in a file's "label" column (all tags for tagging tasks).

    Malformed records are ignored here; `read_table_file` reports them with line numbers.
    Raises DataError if the file holds no labels at all.
    """
    source, path = path, Path(path)
    kind = TaskKind(kind)
    reader = reader_for(fmt)
    if "label" not in columns:
        raise ConfigError(f"columns: a 'label' column is needed to infer the labels of {path.name}")
    _check_columns(columns, kind, reader)
    found: list[str] = []
    records = reader.records(
        source,  # type: ignore[arg-type]
        {"label": columns["label"]},
        has_header=has_header,
        latin1_fallback=latin1_fallback,
    )
    for _, record in records:
        if isinstance(record, BadRecord):
            continue
        raw = record["label"]
        if kind == TaskKind.TAGGING:
            try:
                found.extend(_as_list(raw, "label"))
            except ValueError:
                continue
        else:
            try:
                key = _label_key(raw)
            except ValueError:
                continue  # reported by read_table_file with its line
            if key and key.isprintable():  # others are reported by read_table_file as unknown labels
                found.append(key)
    if not found:
        hint = ""
        if isinstance(columns["label"], int) and has_header:
            hint = " (a position: is the first line data? then set has_header: false)"
        raise DataError(path, f"no labels found in column {columns['label']!r}{hint}")
    return collect_labels(found)

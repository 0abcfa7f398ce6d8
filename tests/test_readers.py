"""Low-level readers: every bad input is a one-line DataError naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from textmtl.data.readers import (
    collect_labels,
    infer_labels,
    read_fdu_mtl_file,
    read_table_file,
    read_text_file,
    split_lines,
)
from textmtl.data.tasks import Example, TaskKind
from textmtl.errors import ConfigError, DataError, TextmtlError

CLS = TaskKind.CLASSIFICATION


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def assert_data_error(exc: pytest.ExceptionInfo, path: Path, line: int | None) -> str:
    err = exc.value
    assert type(err) is DataError
    message = str(err)
    assert path.name in message
    assert "\n" not in message
    if line is not None:
        assert f"{path.name}:{line}:" in message
        assert err.line == line
    return message


# --------------------------------------------------------------------------- text


def test_split_lines_only_on_newline() -> None:
    assert split_lines("a\r\nb\x85c\u2028d\n") == ["a", "b\x85c\u2028d"]
    assert split_lines("a\n\nb") == ["a", "", "b"]
    assert split_lines("") == []
    assert split_lines("x\n\n") == ["x", ""]


def test_read_text_file_strips_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.txt", b"\xef\xbb\xbfhello\n")
    assert read_text_file(path) == "hello\n"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.tsv"
    with pytest.raises(DataError, match="file not found") as exc:
        read_text_file(path)
    assert_data_error(exc, path, None)


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n  \n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "empty.txt", content)
    with pytest.raises(DataError, match="file is empty") as exc:
        read_text_file(path)
    assert_data_error(exc, path, None)


def test_strict_utf8_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "strict.csv", b"text,label\nfine,1\ncaf\xe9,0\n")
    with pytest.raises(DataError, match="is not valid UTF-8") as exc:
        read_text_file(path)
    message = assert_data_error(exc, path, 3)
    assert "0xe9" in message and "column 4" in message


def test_latin1_fallback(tmp_path: Path) -> None:
    path = write(tmp_path, "l1.txt", b"caf\xe9\n")
    assert read_text_file(path, latin1_fallback=True) == "caf\u00e9\n"


# --------------------------------------------------------------------------- FDU-MTL


def test_fdu_reads_labels_and_text(tmp_path: Path) -> None:
    path = write(tmp_path, "x.task.train", "1\tgreat book\n0\tawful , really\r\n")
    examples, skipped = read_fdu_mtl_file(path)
    assert examples == [Example("great book", 1), Example("awful , really", 0)]
    assert skipped == 0


def test_fdu_latin1_keeps_x85_inside_line(tmp_path: Path) -> None:
    path = write(tmp_path, "MR.task.train", b"1\tna\x85ve caf\xe9\n0\tdull\n")
    examples, _ = read_fdu_mtl_file(path)
    assert len(examples) == 2
    assert examples[0] == Example("na\x85ve caf\u00e9", 1)


def test_fdu_unlabelled(tmp_path: Path) -> None:
    path = write(tmp_path, "x.task.unlabel", "Some Raw Text\twith a tab\nmore text\n")
    examples, _ = read_fdu_mtl_file(path, labelled=False)
    assert examples == [Example("Some Raw Text\twith a tab", None), Example("more text", None)]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("1\tok\nno tab here\n", 2),  # no tab
        ("1\tok\n0\tok\n2\tunknown label\n", 3),  # unknown label
        ("1\tok\n0\t   \n", 2),  # empty text
        ("1\tok\n\n0\tok\n", 2),  # empty line
        ("1\tok\n1 good\n", 2),  # space instead of tab
    ],
)
def test_fdu_bad_lines(tmp_path: Path, content: str, line: int) -> None:
    path = write(tmp_path, "books.task.train", content)
    with pytest.raises(DataError, match=r"expected 'label<TAB>text' with label in \{0, 1\}, got") as exc:
        read_fdu_mtl_file(path)
    assert_data_error(exc, path, line)


def test_fdu_message_quotes_little(tmp_path: Path) -> None:
    path = write(tmp_path, "long.task.test", "x" * 5000 + "\n")
    with pytest.raises(DataError) as exc:
        read_fdu_mtl_file(path)
    assert len(assert_data_error(exc, path, 1)) < 200 + len(str(path))


def test_fdu_skip_bad_lines_counts(tmp_path: Path) -> None:
    path = write(tmp_path, "x.task.train", "1\ta\nbad\n0\tb\n7\tc\n1\t\n")
    examples, skipped = read_fdu_mtl_file(path, skip_bad_lines=True)
    assert [e.text for e in examples] == ["a", "b"]
    assert skipped == 3


def test_fdu_skip_empty_text_only(tmp_path: Path) -> None:
    path = write(tmp_path, "x.task.train", "1\ta\n0\t\n")
    assert read_fdu_mtl_file(path, skip_empty_text=True) == ([Example("a", 1)], 1)
    bad = write(tmp_path, "y.task.train", "1\ta\nno tab\n")
    with pytest.raises(DataError):
        read_fdu_mtl_file(bad, skip_empty_text=True)


def test_fdu_empty_unlabelled_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.task.unlabel", "a\n\nb\n")
    with pytest.raises(DataError) as exc:
        read_fdu_mtl_file(path, labelled=False)
    assert_data_error(exc, path, 2)


# --------------------------------------------------------------------------- tables


def test_csv_with_header(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", 'text,label,other\n"hello, world",pos,x\nbye,neg,y\n\n')
    examples, skipped = read_table_file(
        path, fmt="csv", columns={"text": "text", "label": "label"}, kind=CLS, labels=("neg", "pos")
    )
    assert examples == [Example("hello, world", 1), Example("bye", 0)]
    assert skipped == 0


def test_csv_multiline_field_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", 'text,label\n"two\nlines",a\nthird,zzz\n')
    with pytest.raises(DataError, match="unknown label 'zzz'") as exc:
        read_table_file(path, fmt="csv", columns={"text": "text", "label": "label"}, kind=CLS, labels=("a",))
    assert_data_error(exc, path, 4)
    examples, skipped = read_table_file(
        path, fmt="csv", columns={"text": "text", "label": "label"}, kind=CLS, labels=("a",), skip_bad_lines=True
    )
    assert examples == [Example("two\nlines", 0)] and skipped == 1


def test_tsv_keeps_quotes_and_bom_header(tmp_path: Path) -> None:
    path = write(tmp_path, "dev.tsv", '\ufeffQuality\t#1 String\t#2 String\n1\t" He said\tit \'s "fine\n')
    examples, _ = read_table_file(
        path,
        fmt="tsv",
        columns={"text": "#1 String", "text_pair": "#2 String", "label": "Quality"},
        kind=TaskKind.PAIR_CLASSIFICATION,
        labels=("0", "1"),
    )
    assert examples == [Example('" He said', 1, 'it \'s "fine')]


def test_tsv_without_header_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "cola.tsv", "gj04\t1\t\tGood sentence.\ngj04\t0\t*\tBad sentence.\n")
    examples, _ = read_table_file(
        path, fmt="tsv", columns={"text": 3, "label": 1}, kind=CLS, labels=("0", "1"), has_header=False
    )
    assert examples == [Example("Good sentence.", 1), Example("Bad sentence.", 0)]


def test_regression_floats(tmp_path: Path) -> None:
    path = write(tmp_path, "s.tsv", "a\tb\tscore\nx\ty\t3.800\n")
    examples, _ = read_table_file(
        path,
        fmt="tsv",
        columns={"text": "a", "text_pair": "b", "label": "score"},
        kind=TaskKind.REGRESSION,
        labels=None,
    )
    assert examples == [Example("x", 3.8, "y")]


def test_unlabelled_table(tmp_path: Path) -> None:
    path = write(tmp_path, "u.jsonl", '{"t": "hi"}\n')
    examples, _ = read_table_file(path, fmt="jsonl", columns={"text": "t"}, kind=CLS, labels=None)
    assert examples == [Example("hi")]


def test_jsonl_tagging(tmp_path: Path) -> None:
    rows = [{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}, {"tokens": "a b", "tags": "O O"}]
    path = write(tmp_path, "ner.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    columns = {"tokens": "tokens", "label": "tags"}
    labels = infer_labels(path, fmt="jsonl", columns=columns, kind=TaskKind.TAGGING)
    assert labels == ("B-ORG", "O")
    examples, _ = read_table_file(path, fmt="jsonl", columns=columns, kind=TaskKind.TAGGING, labels=labels)
    assert examples[0] == Example("EU rejects", (0, 1), None, ("EU", "rejects"))
    assert examples[1].tokens == ("a", "b") and examples[1].label == (1, 1)


def test_missing_column_names_header(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", "sentence,label\nhello,1\n")
    with pytest.raises(DataError) as exc:
        read_table_file(path, fmt="csv", columns={"text": "text", "label": "label"}, kind=CLS, labels=("0", "1"))
    message = assert_data_error(exc, path, 1)
    assert "'text'" in message and "'sentence'" in message


# (file name, content, fmt, columns, kind, labels, bad line, message part)
BAD_TABLES = [
    ("few.tsv", "text\tlabel\nok\t1\nonly-one-field\n", "tsv", None, CLS, ("0", "1"), 3, "expected at least 2 fields"),
    ("empty_text.csv", "text,label\nok,1\n  ,0\n", "csv", None, CLS, ("0", "1"), 3, "empty text"),
    ("unknown.csv", "text,label\nok,1\nok,2\n", "csv", None, CLS, ("0", "1"), 3, "unknown label '2'"),
    ("reg.tsv", "text\tlabel\nok\t1.5\nok\thigh\n", "tsv", None, TaskKind.REGRESSION, None, 3, "not a number"),
    ("nan.tsv", "text\tlabel\nok\tnan\n", "tsv", None, TaskKind.REGRESSION, None, 2, "not finite"),
    ("bad.jsonl", '{"text": "a", "label": "1"}\n{"text": "b", "label": \n', "jsonl", None, CLS, ("0", "1"), 2,
     "invalid JSON"),
    ("list.jsonl", '{"text": "a", "label": "1"}\n\n[1, 2]\n', "jsonl", None, CLS, ("0", "1"), 3, "JSON object"),
    ("key.jsonl", '{"text": "a"}\n', "jsonl", None, CLS, ("0", "1"), 1, "missing key(s) label"),
    ("type.jsonl", '{"text": 5, "label": 1}\n', "jsonl", None, CLS, ("0", "1"), 1, "not a string"),
    ("tags.jsonl", '{"tokens": ["a", "b"], "label": ["O"]}\n', "jsonl", {"tokens": "tokens", "label": "label"},
     TaskKind.TAGGING, ("O",), 1, "2 tokens but 1 tags"),
    ("tag.jsonl", '{"tokens": ["a"], "label": ["X"]}\n', "jsonl", {"tokens": "tokens", "label": "label"},
     TaskKind.TAGGING, ("O",), 1, "unknown tag 'X'"),
    ("utf.tsv", b"text\tlabel\nok\t1\nbad \xff\t1\n", "tsv", None, CLS, ("0", "1"), 3, "is not valid UTF-8"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "fmt", "columns", "kind", "labels", "line", "part"), BAD_TABLES)
def test_bad_table_lines(tmp_path: Path, name, content, fmt, columns, kind, labels, line, part) -> None:
    path = write(tmp_path, name, content)
    columns = columns or {"text": "text", "label": "label"}
    with pytest.raises(TextmtlError) as exc:
        read_table_file(path, fmt=fmt, columns=columns, kind=kind, labels=labels)
    assert part in assert_data_error(exc, path, line)
    if part != "is not valid UTF-8":
        examples, skipped = read_table_file(
            path, fmt=fmt, columns=columns, kind=kind, labels=labels, skip_bad_lines=True
        )
        assert skipped == 1
        assert len(examples) == len([ln for ln in split_lines(content) if ln.strip()]) - 1 - (fmt != "jsonl")


def test_table_config_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "text,label\na,1\n")
    with pytest.raises(ConfigError, match="label set"):
        read_table_file(path, fmt="csv", columns={"text": "text", "label": "label"}, kind=CLS, labels=None)
    with pytest.raises(ConfigError, match="has_header"):
        read_table_file(path, fmt="csv", columns={"text": "text"}, kind=CLS, labels=None, has_header=False)
    with pytest.raises(ConfigError, match="format"):
        read_table_file(path, fmt="xml", columns={"text": "text"}, kind=CLS, labels=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown key"):
        read_table_file(path, fmt="csv", columns={"txt": "text"}, kind=CLS, labels=None)


def test_collect_and_infer_labels(tmp_path: Path) -> None:
    assert collect_labels(["b", "a", "b"]) == ("a", "b")
    assert collect_labels(["10", "2", "1"]) == ("1", "2", "10")
    path = write(tmp_path, "l.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": 0}\nnot json\n')
    assert infer_labels(path, fmt="jsonl", columns={"text": "text", "label": "label"}, kind=CLS) == ("0", "1")
    empty = write(tmp_path, "e.csv", "text,label\n")
    with pytest.raises(DataError, match="no labels"):
        infer_labels(empty, fmt="csv", columns={"text": "text", "label": "label"}, kind=CLS)

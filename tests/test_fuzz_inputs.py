"""Property-based fuzzing of every input path: each input ends in a correct parse or a one-line
`TextmtlError` naming the file (and line), never another exception.

Covered: every reader (FDU-MTL files and benchmark, each GLUE task, CSV/TSV/JSONL custom tasks
of every kind), the config loader (YAML text and `--set` overrides) and `textmtl train` on
broken or odd custom task files. Inputs: random bytes, huge lines, missing columns, wrong types,
latin-1/cp1252/UTF-16/invalid UTF-8, empty, blank and NUL-only files. The number of cases tried
is printed at the end of the pytest run (see `tests/conftest.py`); TEXTMTL_FUZZ_SCALE=10 runs
ten times as many.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from textmtl.config import ConfigBase as Config
from textmtl.config import load_config
from textmtl.data.custom import load_custom_task
from textmtl.data.sets import GLUE_TASKS, FduMtl, Glue
from textmtl.data.readers import infer_labels, read_fdu_mtl_file, read_table_file
from textmtl.data.tasks import TaskKind
from textmtl.errors import ConfigError, DataError, TextmtlError

from ._cli import run_main

SCALE = float(os.environ.get("TEXTMTL_FUZZ_SCALE", "1"))  # e.g. 10 for a deeper run


def budget(n: int) -> settings:
    """`n` examples (times TEXTMTL_FUZZ_SCALE), no deadline: the machine may be busy."""
    return settings(max_examples=max(1, round(n * SCALE)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


CSV_FIELD_LIMIT = 131072  # Python's csv default: a longer field is a csv.Error


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """One folder reused by every example of a test (hypothesis forbids function-scoped fixtures)."""
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------- strategies

ENCODINGS = ("utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-16-le")
WORDS = st.sampled_from(["good", "bad", "the", "film", "ça", "naïve", "日本", "😀", "\x85", "\u2028", "\x00", "\r",
                         '"', "'", ",", "\t", "\\", "{", "}", "[", "]", ":", "null", "1", "-", "nan", "1e999",
                         "\ud800"])  # "\ud800": a lone surrogate, which JSON can escape
PLAIN = st.lists(st.sampled_from(["good", "bad", "the", "film", "ça", "日本", "😀", "it's", "a"]), min_size=1,
                 max_size=6).map(" ".join)  # a valid text
ODD = st.lists(WORDS, min_size=1, max_size=8).map(" ".join)  # control characters, quotes, separators, ...
TEXT = st.one_of(PLAIN, st.text(max_size=30), ODD)
HUGE = st.integers(1, 3).map(lambda k: "word " * (k * CSV_FIELD_LIMIT // 4))  # up to ~400 KB lines


def utf8(text: str) -> bytes:
    """UTF-8, with lone surrogates written as their (invalid) 3-byte forms."""
    return text.encode("utf-8", "surrogatepass")


@st.composite
def encoded(draw, lines: st.SearchStrategy[str]) -> bytes:
    """A file: clean lines; lines in any encoding, CRLF, huge or blank lines and spliced-in bytes; random
    bytes; empty, blank or NUL-only files."""
    shape = draw(st.sampled_from(["clean"] * 4 + ["lines"] * 4 + ["bytes", "empty", "blank", "nul"]))
    if shape == "clean":
        return utf8("".join(line + "\n" for line in draw(st.lists(lines, min_size=1, max_size=10))))
    if shape == "bytes":
        return draw(st.binary(max_size=300))
    if shape == "empty":
        return draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"]))
    if shape == "blank":
        return draw(st.sampled_from([b" ", b"\n\n\n", b"\r\n", b" \t \n  \n", b"\x0b\x0c\n"]))
    if shape == "nul":
        return b"\x00" * draw(st.integers(1, 64))
    rows = draw(st.lists(st.one_of(lines, lines, lines, HUGE, st.just(""), st.just("   ")), max_size=10))
    sep = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    text = sep.join(rows) + draw(st.sampled_from(["", sep]))
    data = text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    for _ in range(draw(st.integers(0, 2))):  # splice in bytes that are often invalid UTF-8
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


FDU_GOOD_LINE = st.tuples(st.sampled_from(["0", "1"]), st.just("\t"), PLAIN).map("".join)


def fdu_line(labels: tuple[str, ...] = ("0", "1")) -> st.SearchStrategy[str]:
    valid = st.tuples(st.sampled_from(labels), st.just("\t"), PLAIN).map("".join)
    label = st.one_of(st.sampled_from([*labels, " 1", "1 ", "2", "-1", "1.0", "", "pos"]), TEXT)
    sep = st.sampled_from(["\t", "\t", "\t", " ", "\t\t", ""])
    return st.one_of(valid, valid, st.tuples(label, sep, TEXT).map("".join))


SCALARS = st.one_of(TEXT, st.integers(-10**30, 10**30), st.floats(allow_nan=True), st.booleans(), st.none())
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                              st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                           max_leaves=6)


def valid_record(fmt: str, columns: dict[str, str | int], labels: list[str], kind: TaskKind):
    """A well-formed record for `columns` (header order, or by position without a header)."""
    n = st.integers(1, 4)
    tagged = n.flatmap(lambda k: st.tuples(st.lists(PLAIN.map(lambda t: t.split()[0]), min_size=k, max_size=k),
                                           st.lists(st.sampled_from(labels), min_size=k, max_size=k)))

    def record(values: dict):  # key -> value
        if fmt == "jsonl":
            return json.dumps({columns[k]: v for k, v in values.items()})
        cells = {k: " ".join(v) if isinstance(v, list) else str(v) for k, v in values.items()}
        if fmt == "csv":
            cells = {k: '"' + v.replace('"', '""') + '"' for k, v in cells.items()}
        if all(isinstance(c, int) for c in columns.values()):
            row = ["x"] * (max(columns.values()) + 1)
            for k, v in cells.items():
                row[columns[k]] = v
        else:
            row = [cells[k] for k in columns]
        return ("\t" if fmt == "tsv" else ",").join(row)

    def build(draw_tags, texts, label):
        values = {k: texts[i] for i, k in enumerate(c for c in columns if c in ("text", "text_pair"))}
        if "tokens" in columns:
            values["tokens"], values["label"] = draw_tags
        elif "label" in columns:
            values["label"] = float(label) if kind == TaskKind.REGRESSION and fmt == "jsonl" else label
        return record(values)

    return st.builds(build, tagged, st.lists(st.one_of(PLAIN, PLAIN, ODD), min_size=2, max_size=2),
                     st.sampled_from(labels))


def table_line(fmt: str, columns: dict[str, str | int], labels: list[str], kind: TaskKind) -> st.SearchStrategy[str]:
    """One record: often well-formed, else fields missing, extra, wrongly typed or quoted, or broken JSON."""
    names = [c for c in columns.values() if isinstance(c, str)] or ["a", "b", "c", "d"]
    field = st.one_of(TEXT, st.sampled_from(labels + ["", " ", "3", "0.5", "nan", "inf", "-1e400", "x y z"]))
    valid = valid_record(fmt, columns, labels, kind)
    if fmt == "jsonl":
        obj = st.dictionaries(st.sampled_from(names + ["other", ""]), st.one_of(field, JSON_VALUES), max_size=5)
        broken = st.sampled_from(["{", "[1, 2]", '"text"', "null", "{'a': 1}", '{"text": NaN}', "[" * 5000,
                                  '{"label": ' + "9" * 5000 + "}"])
        return st.one_of(valid, valid, valid, obj.map(lambda d: json.dumps(d, allow_nan=True)), broken)
    sep = "\t" if fmt == "tsv" else ","
    quoted = st.one_of(field, field.map(lambda s: '"' + s.replace('"', '""') + '"'), field.map(lambda s: '"' + s))
    return st.one_of(valid, valid, valid, st.lists(quoted, max_size=len(names) + 2).map(sep.join))


def table_file(fmt: str, columns: dict[str, str | int], labels: list[str], kind: TaskKind, has_header: bool = True,
               *, mostly_valid: bool = False):
    """A file: header (sometimes wrong or missing) and records, written as is or re-mixed by `encoded`.

    `mostly_valid`: two thirds of the files are well-formed (for loaders that read several files).
    """
    names = [c for c in columns.values() if isinstance(c, str)]
    header = st.just([] if not has_header or fmt == "jsonl" else [("\t" if fmt == "tsv" else ",").join(names)])
    if mostly_valid:
        good = st.lists(valid_record(fmt, columns, labels, kind), min_size=4, max_size=10)
        good = st.tuples(header, good).map(lambda hb: utf8("\n".join(hb[0] + hb[1]) + "\n"))
        return st.one_of(good, good, table_file(fmt, columns, labels, kind, has_header))
    header = st.one_of(header, header, header, st.lists(TEXT, max_size=1))
    body = st.lists(table_line(fmt, columns, labels, kind), max_size=10)
    return st.tuples(header, body).map(lambda hb: "\n".join(hb[0] + hb[1]) + "\n").flatmap(
        lambda text: st.one_of(st.just(utf8(text)), st.just(utf8(text)),
                               encoded(st.sampled_from(text.split("\n")))))


# --------------------------------------------------------------------------- the property


def physical_lines(data: bytes) -> int:
    return data.count(b"\n") + 1


def check_error(exc: TextmtlError, path: Path, *, names_file: bool = True) -> None:
    """One line; a DataError names its file and, when it has one, its line as `file:line:`.

    `names_file`: the message must contain `path` (a file, or the folder of several files).
    """
    message = str(exc)
    assert message and "\n" not in message and "\r" not in message, repr(message)
    if isinstance(exc, DataError):
        assert str(exc.path) in message
        if exc.line is not None:
            assert f"{exc.path}:{exc.line}: " in message
            assert exc.line >= 1
    if names_file:
        assert str(path) in message, message


def outcome(call, path: Path, counter, group: str | None, *, names_file: bool = True):
    """Run `call()`: return its result, or None after checking the TextmtlError it raised.

    Counts one case of `group` (None: a second call on the same case).
    """
    if group is not None:
        counter[group] += 1
    try:
        return call()
    except TextmtlError as exc:
        check_error(exc, path, names_file=names_file)
        return None


def check_examples(examples, kind: TaskKind, n_labels: int, max_lines: int, labelled: bool = True) -> None:
    assert len(examples) <= max_lines
    for ex in examples:
        assert isinstance(ex.text, str) and ex.text.strip() == ex.text and ex.text
        ex.text.encode("utf-8")  # real text: no lone surrogates (tokenizers reject them)
        if kind == TaskKind.PAIR_CLASSIFICATION:
            assert isinstance(ex.text_pair, str) and ex.text_pair
        if not labelled:
            assert ex.label is None
        elif kind == TaskKind.REGRESSION:
            assert isinstance(ex.label, float) and math.isfinite(ex.label)
        elif kind == TaskKind.TAGGING:
            assert isinstance(ex.label, tuple) and len(ex.label) == len(ex.tokens or ())
            assert all(0 <= t < n_labels for t in ex.label)
        else:
            assert isinstance(ex.label, int) and 0 <= ex.label < n_labels


# --------------------------------------------------------------------------- readers


@budget(80)
@given(data=encoded(fdu_line()), labelled=st.booleans(), skip=st.booleans(), skip_empty=st.booleans())
def test_fdu_mtl_file(work, fuzz_counter, data, labelled, skip, skip_empty):
    path = work / "books.task.train"
    path.write_bytes(data)
    got = outcome(lambda: read_fdu_mtl_file(path, labelled=labelled, skip_bad_lines=skip, skip_empty_text=skip_empty),
                  path, fuzz_counter, "readers")
    if got is not None:
        examples, skipped = got
        assert len(examples) + skipped <= physical_lines(data)
        check_examples(examples, TaskKind.CLASSIFICATION, 2, physical_lines(data), labelled)


FDU_VALID = st.lists(FDU_GOOD_LINE, min_size=4, max_size=10).map(lambda rows: "".join(f"{x}\n" for x in rows).encode())
FDU_FILE = st.one_of(FDU_VALID, FDU_VALID, encoded(fdu_line()))


@budget(30)
@given(train=FDU_FILE, test=FDU_FILE, unlabel=st.one_of(FDU_VALID, encoded(TEXT)),
       dev_size=st.sampled_from([None, 0, 1, 1, 3]), skip=st.booleans())
def test_fdu_mtl_benchmark(work, fuzz_counter, train, test, unlabel, dev_size, skip):
    root = work / "fdu-root"
    (root / "fdu-mtl").mkdir(parents=True, exist_ok=True)
    for split, data in (("train", train), ("test", test), ("unlabel", unlabel)):
        (root / "fdu-mtl" / f"books.task.{split}").write_bytes(data)
    got = outcome(lambda: FduMtl().load(root, ["books"], dev_size=dev_size, skip_bad_lines=skip, unlabelled=True),
                  root / "fdu-mtl", fuzz_counter, "readers")
    if got is not None:
        (task,) = got
        assert task.train and len(task.train) + len(task.dev) <= physical_lines(train)
        check_examples(task.train + task.dev + task.test, TaskKind.CLASSIFICATION, 2, 10**9)


GLUE_LABEL_VALUES = {name: list(cfg.labels) or ["0.0", "2.5", "5"] for name, cfg in GLUE_TASKS.items()}


@pytest.mark.parametrize("task", list(GLUE_TASKS))
def test_glue_task(work, fuzz_counter, task):
    cfg = GLUE_TASKS[task]
    lines = table_file("tsv", dict(cfg.columns), GLUE_LABEL_VALUES[task], cfg.kind, cfg.has_header, mostly_valid=True)
    root = work / f"glue-{task}"
    (root / "glue" / task).mkdir(parents=True, exist_ok=True)

    @budget(20)
    @given(train=lines, dev=lines, skip=st.booleans())
    def check(train, dev, skip):
        files = {"dev": dev, "train": train} if cfg.has_train else {"dev": dev}
        for split, data in files.items():
            (root / "glue" / task / f"{split}.tsv").write_bytes(data)
        got = outcome(lambda: Glue().load(root, [task], skip_bad_lines=skip), root / "glue" / task, fuzz_counter,
                      "readers")
        if got is not None:
            (data,) = got
            assert data.train
            n = sum(physical_lines(d) for d in files.values())
            check_examples(data.train + data.dev + data.test, cfg.kind, len(cfg.labels), n)

    check()


TABLE_CASES = [
    ("csv", TaskKind.CLASSIFICATION, {"text": "text", "label": "label"}, ["pos", "neg"]),
    ("tsv", TaskKind.CLASSIFICATION, {"text": 1, "label": 0}, ["0", "1", "2"]),
    ("jsonl", TaskKind.CLASSIFICATION, {"text": "text", "label": "label"}, ["1", "0", "true"]),
    ("csv", TaskKind.PAIR_CLASSIFICATION, {"text": "a", "text_pair": "b", "label": "y"}, ["yes", "no"]),
    ("jsonl", TaskKind.PAIR_CLASSIFICATION, {"text": "a", "text_pair": "b", "label": "y"}, ["yes", "no"]),
    ("tsv", TaskKind.REGRESSION, {"text": "s", "label": "score"}, ["1.5", "-2", "3e2"]),
    ("jsonl", TaskKind.REGRESSION, {"text": "s", "label": "score"}, ["1.5", "-2"]),
    ("jsonl", TaskKind.TAGGING, {"tokens": "tokens", "label": "tags"}, ["O", "B-PER", "I-PER"]),
    ("tsv", TaskKind.TAGGING, {"tokens": "tokens", "label": "tags"}, ["O", "B-PER"]),
    ("csv", TaskKind.CLASSIFICATION, {"text": "text"}, ["pos", "neg"]),  # unlabelled
]


@pytest.mark.parametrize("fmt,kind,columns,labels", TABLE_CASES, ids=lambda v: getattr(v, "value", None))
def test_table_reader(work, fuzz_counter, fmt, kind, columns, labels):
    has_header = all(isinstance(c, str) for c in columns.values())
    path = work / f"table.{fmt}"
    label_set = None if kind == TaskKind.REGRESSION else labels

    @budget(25)
    @given(data=table_file(fmt, columns, labels, kind, has_header), skip=st.booleans(), latin1=st.booleans())
    def check(data, skip, latin1):
        path.write_bytes(data)
        got = outcome(lambda: read_table_file(path, fmt=fmt, columns=columns, kind=kind, labels=label_set,
                                              has_header=has_header, skip_bad_lines=skip, latin1_fallback=latin1),
                      path, fuzz_counter, "readers")
        if got is not None:
            examples, skipped = got
            assert len(examples) + skipped <= physical_lines(data)
            check_examples(examples, kind, len(labels), physical_lines(data), labelled="label" in columns)
        if "label" in columns:
            found = outcome(lambda: infer_labels(path, fmt=fmt, columns=columns, kind=kind, has_header=has_header),
                            path, fuzz_counter, None)
            if found is not None:
                assert found and all(isinstance(x, str) for x in found) and len(set(found)) == len(found)

    check()


@pytest.mark.parametrize("fmt,kind,columns,labels", [c for c in TABLE_CASES if "label" in c[2]][:6],
                         ids=lambda v: getattr(v, "value", None))
def test_custom_task(work, fuzz_counter, fmt, kind, columns, labels):
    """The whole custom-task path: label inference, dev hold-out or dev file, unlabelled file."""
    has_header = all(isinstance(c, str) for c in columns.values())
    folder = work / f"custom-{fmt}-{kind}"
    folder.mkdir(exist_ok=True)
    files = table_file(fmt, columns, labels, kind, has_header, mostly_valid=True)

    @budget(15)
    @given(train=files, test=files, dev=st.none() | files, given_labels=st.booleans(),
           dev_size=st.sampled_from([None, 1]))
    def check(train, test, dev, given_labels, dev_size):
        paths = {"train": train, "test": test} | ({"dev": dev} if dev is not None else {})
        for split, data in paths.items():
            (folder / f"{split}.{fmt}").write_bytes(data)
        if dev is None:
            (folder / f"dev.{fmt}").unlink(missing_ok=True)
        task_labels = labels if given_labels and kind != TaskKind.REGRESSION else None
        got = outcome(lambda: load_custom_task("mine", kind=kind, files={s: f"{s}.{fmt}" for s in paths},
                                               columns=columns, fmt=fmt, labels=task_labels, has_header=has_header,
                                               # dev_size beside a dev file is a config error (test_hf_data)
                                               dev_size=dev_size if dev is None else None, base_dir=folder),
                      folder, fuzz_counter, "readers")
        if got is not None:
            assert got.train
            n = sum(physical_lines(d) for d in paths.values())
            check_examples(got.train + got.dev + got.test, kind, len(got.spec.labels), n)

    check()


# --------------------------------------------------------------------------- config

SECTIONS = {name: list(field.annotation.model_fields) for name, field in Config.model_fields.items()
            if hasattr(field.annotation, "model_fields")}
KEY_PATHS = [f"{s}.{k}" for s, keys in SECTIONS.items() for k in keys] + [
    "model.encoder.type", "model.encoder.num_filters", "model.encoder.path", "method.name", "method.reduction",
    "training.sampling.strategy", "data.custom_tasks", "name", "seed", "method", "training.lr.x", ""]


def typo(key: str) -> st.SearchStrategy[str]:
    """`key` with one character dropped, doubled or swapped."""
    if not key:
        return st.just("x")
    return st.integers(0, len(key) - 1).flatmap(lambda i: st.sampled_from([
        key[:i] + key[i + 1:],
        key[:i] + key[i] * 2 + key[i + 1:],
        key[:i] + key[i + 1:i + 2] + key[i:i + 1] + key[i + 2:],
    ]))


YAML_VALUES = st.one_of(SCALARS, st.sampled_from([
    "textcnn", "transformer", "ls", "stl", "fdu-mtl", "glue", 0.01, -1, 1e9, [3, 5], {"type": "bilstm"},
    [{"name": "t", "files": {"train": "a\x00b"}}]]),
                        JSON_VALUES)


@st.composite
def config_mapping(draw) -> dict:
    data: dict = {}
    for key in draw(st.lists(st.sampled_from(KEY_PATHS).flatmap(lambda k: st.one_of(st.just(k), typo(k))), max_size=6)):
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = draw(YAML_VALUES)
    return data


@st.composite
def yaml_file(draw) -> bytes:
    shape = draw(st.sampled_from(["mapping"] * 5 + ["text", "bytes", "special"]))
    if shape == "mapping":
        text = yaml.safe_dump(draw(config_mapping()), allow_unicode=draw(st.booleans()))
        return text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    if shape == "text":
        return draw(st.text(alphabet=st.sampled_from(list(":-[]{}!&*#|>'\"%@`?, \n\t\x00\x85abc12\u2028\ufeff")),
                            max_size=60)).encode("utf-8")
    if shape == "bytes":
        return draw(st.binary(max_size=200))
    return draw(st.sampled_from([b"", b"\n", b"~", b"- 1\n", b"[" * 1000, b"a: &x [*x]\n",
                                 b"!!python/object:os.system {}",
                                 b"a: !!python/name:os.system\n", b"? [1, 2]\n: 3\n", b"{a: 1, a: 2}\n",
                                 b"training: {lr: .nan}\n", b"\"a\\nb\": 1\n", b"data: {custom_tasks: [{name: x}]}\n",
                                 ("x: " + "1" * 5000 + "\n").encode(), b"seed: 2001-12-14\n"]))


OVERRIDES = st.lists(st.one_of(
    st.tuples(st.sampled_from(KEY_PATHS).flatmap(lambda k: st.one_of(st.just(k), typo(k))),
              st.one_of(st.text(max_size=12), st.sampled_from(["[", "{a: 1}", "0.1", "null", "!!python/tuple [1]",
                                                              "[" * 1000, "a\nb", "1e999"]))).map("=".join),
    st.text(max_size=10)), max_size=3)


@budget(200)
@given(data=yaml_file(), overrides=OVERRIDES)
def test_config_loader(work, fuzz_counter, data, overrides):
    path = work / "run.yaml"
    path.write_bytes(data)
    fuzz_counter["config"] += 1
    try:
        cfg = load_config(path, overrides)
    except ConfigError as exc:
        message = str(exc)
        check_error(exc, path, names_file=False)
        assert path.name in message or message.startswith("--set "), message
        if "unknown key" in message:
            assert "did you mean" in message or "valid keys" in message, message
        return
    assert isinstance(cfg, Config)
    saved = yaml.safe_load(cfg.to_yaml())  # what a run saves, it can read back
    assert json.dumps(saved, sort_keys=True) == json.dumps(cfg.model_dump(mode="json"), sort_keys=True)


@budget(60)
@given(key=st.sampled_from([k for k in KEY_PATHS if k.count(".") == 1 and not k.startswith("method.")]).flatmap(
    lambda k: st.tuples(st.just(k), typo(k.split(".")[1]))))
def test_unknown_key_suggests_nearest(work, fuzz_counter, key):
    """A one-character typo of a valid key is rejected and the valid key is suggested."""
    full, wrong = key
    section, right = full.split(".")
    assume(wrong not in SECTIONS[section])
    path = work / "typo.yaml"
    path.write_text(yaml.safe_dump({section: {wrong: 1}}))
    fuzz_counter["config"] += 1
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = str(exc.value)
    assert f"unknown key '{section}.{wrong}'" in message and f"did you mean '{right}'" in message, message


# --------------------------------------------------------------------------- end to end


def broken_csv() -> st.SearchStrategy[bytes]:
    """A learnable CSV task made invalid in one of several ways."""
    good = ["text,label"] + [f"{w} movie,{'pos' if w in ('good', 'great') else 'neg'}"
                            for w in ("good", "bad", "great", "awful") * 3]
    body = "\n".join(good) + "\n"

    def insert(at_line: int, line: str) -> bytes:
        rows = good[:]
        rows.insert(1 + at_line % (len(rows) - 1), line)
        return ("\n".join(rows) + "\n").encode()

    return st.one_of(
        st.sampled_from([b"", b"\n \n", b"\x00\x00", body.encode("utf-16"), b"txt,lbl\nfine,pos\n", b"text\nfine\n"]),
        st.tuples(st.integers(0, 20), st.sampled_from(["fine,", "only text", ",pos", '"open quote,pos' + "x" * 140000]))
        .map(lambda a: insert(*a)),
        st.integers(0, len(body)).map(lambda i: body.encode()[:i] + b"\xff\xfe" + body.encode()[i:]),
    )


def toy_config(folder: Path, encoder: dict, fmt: str = "csv") -> Path:
    config = {"name": "fuzz", "data": {"benchmark": None, "custom_tasks": [
        {"name": "toy", "format": fmt, "files": {"train": f"train.{fmt}", "test": f"test.{fmt}"}}]},
        "model": {"encoder": encoder}, "text": {"max_length": 16},
        "training": {"steps": 1, "batch_size": 4}, "output": {"runs_dir": str(folder / "runs")}}
    (folder / "c.yaml").write_text(yaml.safe_dump(config))
    return folder / "c.yaml"


TEXTCNN = {"type": "textcnn", "glove": False, "embedding_dim": 8, "num_filters": 4}


@budget(10)
@given(train=broken_csv(), which=st.sampled_from(["train", "test"]))
def test_cli_train_on_broken_custom_task(work, fuzz_counter, train, which):
    folder = work / "cli"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    good = "text,label\n" + "".join(f"{w} film,{'pos' if w == 'good' else 'neg'}\n" for w in ("good", "bad") * 4)
    for split in ("train", "test"):
        (folder / f"{split}.csv").write_text(good)
    (folder / f"{which}.csv").write_bytes(train)
    config = toy_config(folder, TEXTCNN)
    fuzz_counter["cli"] += 1
    code, printed = run_main(["train", str(config), "--quiet"])
    assert code == 2, printed
    assert "Traceback" not in printed
    lines = [line for line in printed.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{which}.csv" in lines[0], printed
    assert not (folder / "runs").exists() or not any((folder / "runs").iterdir())


ANY_FILE = {fmt: table_file(fmt, {"text": "text", "label": "label"}, ["pos", "neg"], TaskKind.CLASSIFICATION,
                            mostly_valid=True) for fmt in ("csv", "jsonl")}


@budget(8)
@given(files=st.sampled_from(["csv", "jsonl"]).flatmap(lambda f: st.tuples(st.just(f), ANY_FILE[f], ANY_FILE[f])),
       transformer=st.booleans())
def test_cli_train_on_any_custom_task(work, fuzz_counter, tiny_bert, files, transformer):
    """Odd but valid files train (exit 0, a finished run and no `.partial`); the others fail as above."""
    fmt, train, test = files
    folder = work / "cli-any"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / f"train.{fmt}").write_bytes(train)
    (folder / f"test.{fmt}").write_bytes(test)
    config = toy_config(folder, {"type": "transformer", "path": str(tiny_bert)} if transformer else TEXTCNN, fmt)
    fuzz_counter["cli"] += 1
    code, printed = run_main(["train", str(config), "--quiet"])
    runs = sorted(p.name for p in (folder / "runs").iterdir()) if (folder / "runs").exists() else []
    assert code in (0, 2) and "Traceback" not in printed, printed
    if code == 0:
        assert runs == ["fuzz"] and (folder / "runs" / "fuzz" / "metrics.json").exists()
    else:
        assert runs == [] and len([x for x in printed.splitlines() if x.strip()]) == 1, printed

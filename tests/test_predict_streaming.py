"""`textmtl predict` streams its input: lazy line reading, bounded chunks, atomic output, clear errors."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import textmtl
from textmtl.api import PREDICT_CHUNK_BATCHES, iter_predictions
from textmtl.cli import app
from textmtl.data.line_stream import LineStream, prediction_inputs
from textmtl.data.readers import read_text_file, split_lines
from textmtl.errors import DataError
from textmtl.training.run_directory import load_run

from ._cli import run_main
from .test_training import toy_config


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    """A quickly trained toy run (classification task `toy_a`)."""
    import random

    folder = tmp_path_factory.mktemp("toy")
    rng = random.Random(0)
    for split in ("train", "dev", "test"):
        rows = ["text,label"] + [f"{w} {rng.choice(['film', 'plot'])},{'pos' if w in ('good', 'great') else 'neg'}"
                                 for w in rng.choices(["good", "great", "bad", "awful"], k=40)]
        (folder / f"{split}.csv").write_text("\n".join(rows) + "\n")
    cfg = toy_config(folder, folder / "runs", training={"steps": 4, "batch_size": 8})
    return textmtl.train(cfg, progress=False).path


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pair")
    rows = "text,text_pair,label\n" + "".join(f"{a},{b},{'yes' if a == b else 'no'}\n"
                                               for a in ("good", "bad", "fine") for b in ("good", "bad", "fine"))
    for split in ("train", "test"):
        (folder / f"{split}.csv").write_text(rows)
    cfg = {"name": "pair", "data": {"benchmark": None, "custom_tasks": [
        {"name": "pairs", "kind": "pair_classification", "files": {"train": str(folder / "train.csv"),
                                                                   "test": str(folder / "test.csv")},
         "columns": {"text": "text", "text_pair": "text_pair", "label": "label"}}]},
        "model": {"encoder": {"type": "textcnn", "glove": False, "embedding_dim": 8, "num_filters": 4}},
        "training": {"steps": 2}, "output": {"runs_dir": str(folder / "runs")}}
    return textmtl.train(cfg, progress=False).path


# --------------------------------------------------------------------------- reading lines


def test_line_stream_follows_read_text_file_rules(tmp_path):
    data = b"\xef\xbb\xbfgood film\r\n\xe9t\xe9 bad\ncaf\xc3\xa9\xc2\x85 x\n\nlast \xc2\x85 line"
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    lines = list(LineStream(path))
    assert lines == [(1, "good film"), (2, "\xe9t\xe9 bad"), (3, "café\x85 x"), (4, ""), (5, "last \x85 line")]
    # each line is decoded on its own (line 2 is latin-1, line 3 UTF-8); a valid UTF-8 file reads as a whole
    path.write_bytes(data.replace(b"\xe9t\xe9", b"\xc3\xa9t\xc3\xa9"))
    assert [t for _, t in LineStream(path)] == split_lines(read_text_file(path))


def test_line_stream_is_lazy_and_counts_bytes(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"some text\n" * 200_000)
    stream = LineStream(path)
    lines = iter(stream)
    assert next(lines) == (1, "some text")
    assert stream.bytes_read == 10 and stream.size == 2_000_000
    assert sum(1 for _ in lines) == 199_999 and stream.bytes_read == stream.size


@pytest.mark.parametrize("content,message", [(b"", "file is empty"), (b"\xef\xbb\xbf", "file is empty")])
def test_line_stream_errors(tmp_path, content, message):
    path = tmp_path / "in.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        LineStream(path)
    with pytest.raises(DataError, match="file not found"):
        LineStream(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="is a directory"):
        LineStream(tmp_path)


def test_line_stream_refuses_a_line_longer_than_the_limit(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b"short\n" + b"x" * 100 + b"\nshort\n")
    assert len(list(LineStream(path, max_line_bytes=100))) == 3
    with pytest.raises(DataError, match=r"in\.txt:2: line is longer than 99 bytes"):
        list(LineStream(path, max_line_bytes=99))


def test_prediction_inputs_by_task_kind(tmp_path):
    lines = [(1, "a\tb"), (2, "c")]
    assert list(prediction_inputs(iter(lines), "f.txt", pair=False)) == ["a\tb", "c"]
    assert list(prediction_inputs(iter(lines), "f.txt", pair=None)) == [("a", "b"), "c"]
    with pytest.raises(DataError, match=r"^f\.txt:2: expected 'text<TAB>text_pair' for a pair task, got 'c'$"):
        list(prediction_inputs(iter(lines), "f.txt", pair=True))


# --------------------------------------------------------------------------- bounded memory


def test_iter_predictions_pulls_its_input_lazily(toy_run):
    """An endless input: the first prediction comes after at most one chunk has been pulled."""
    pulled = 0

    def endless():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield "a great movie" if i % 2 else "an awful plot"

    batch_size = 4
    chunk = batch_size * PREDICT_CHUNK_BATCHES
    predictions = iter_predictions(load_run(toy_run), "toy_a", endless(), batch_size=batch_size)
    assert next(predictions) in ("pos", "neg")
    assert pulled == chunk
    rest = list(itertools.islice(predictions, 3 * chunk))
    assert len(rest) == 3 * chunk and pulled <= 4 * chunk + 1


# --------------------------------------------------------------------------- the command


def test_cli_predict_streams_the_same_predictions_as_the_api(toy_run, tmp_path):
    texts = [f"{w} {n}" for n in range(150) for w in ("a great movie", "an awful plot", "fine")]
    texts += ["", "tab\tinside", "\xe9t\xe9 good"]
    raw = "\r\n".join(texts[:-1]).encode() + b"\n" + texts[-1].encode("latin-1") + b"\n"
    (tmp_path / "in.txt").write_bytes(raw)
    expected = ["<empty>" if p is None else str(p) for p in textmtl.predict(toy_run, "toy_a", texts)]
    assert expected[450] == "<empty>" and expected.count("<empty>") == 1  # the blank line: a marker, not a label
    runner = CliRunner()
    to_file = runner.invoke(app, ["predict", str(toy_run), "--task", "toy_a", "--input", str(tmp_path / "in.txt"),
                                  "--output", str(tmp_path / "out.txt"), "--batch-size", "7"])
    assert to_file.exit_code == 0, to_file.output
    assert (tmp_path / "out.txt").read_text().splitlines() == expected
    assert not (tmp_path / "out.txt.partial").exists()
    assert f"wrote {len(texts)} predictions" in to_file.stderr and "━" not in to_file.stderr  # no bar: not a tty
    to_stdout = runner.invoke(app, ["predict", str(toy_run), "--task", "toy_a", "--input", str(tmp_path / "in.txt")])
    assert to_stdout.exit_code == 0 and to_stdout.stdout.splitlines() == expected


def test_cli_predict_bad_pair_line_is_one_line_error_and_no_output(pair_run, tmp_path):
    (tmp_path / "in.txt").write_text("good\tgood\nbad\tfine\nno tab here\n")
    out = tmp_path / "out.txt"
    code, printed = run_main(["predict", str(pair_run), "--task", "pairs", "--input", str(tmp_path / "in.txt"),
                              "--output", str(out), "--quiet"])
    assert code == 2, printed
    assert printed.strip().count("\n") == 0 and "in.txt:3: expected 'text<TAB>text_pair'" in printed
    assert not out.exists() and not out.with_name("out.txt.partial").exists()
    (tmp_path / "in.txt").write_text("good\tgood\nbad\tfine\n")
    code, printed = run_main(["predict", str(pair_run), "--task", "pairs", "--input", str(tmp_path / "in.txt"),
                              "--output", str(out), "--quiet"])
    assert code == 0 and len(out.read_text().splitlines()) == 2


def test_cli_predict_unwritable_output(toy_run, tmp_path):
    (tmp_path / "in.txt").write_text("fine\n")
    code, printed = run_main(["predict", str(toy_run), "--task", "toy_a", "--input", str(tmp_path / "in.txt"),
                              "--output", str(tmp_path / "no" / "out.txt")])
    assert code == 2 and "cannot write predictions" in printed and "Traceback" not in printed


def test_scores_are_probabilities_whose_argmax_is_the_label(toy_run, tmp_path):
    texts = ["a great movie", "   ", "an awful plot", "fine"]
    plain = textmtl.predict(toy_run, "toy_a", texts)
    scored = textmtl.predict(toy_run, "toy_a", texts, scores=True)
    assert plain[1] is None and scored[1] == {"label": None, "empty": True}
    for p, s in zip(plain, scored):
        if p is None:
            continue
        assert s["label"] == p and set(s["scores"]) == {"neg", "pos"}
        assert sum(s["scores"].values()) == pytest.approx(1.0, abs=1e-6)
        assert max(s["scores"], key=s["scores"].get) == p
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    result = CliRunner().invoke(app, ["predict", str(toy_run), "--task", "toy_a", "--input", str(tmp_path / "in.txt"),
                                      "--scores"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == scored

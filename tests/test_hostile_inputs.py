"""Hostile and careless inputs of issue 22 that this round answers: one line, exit 2, nothing written
(run names that would leave the runs directory, out-of-range seeds and budgets, empty kernels,
devices that are not there)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

import textmtl
from textmtl.config import validate_config
from textmtl.errors import ConfigError

from ._cli import run_main

BAD_NAMES = ["../../escaped_run", "/tmp/absolute_run", "", ".", "..", "a\nb", "a/b/c", "x\0y", "x" * 300,
             "run.partial", "-leading-dash"]


def toy(tmp_path: Path, **over) -> dict:
    rows = "".join(f"{w} film {i},{'pos' if w == 'good' else 'neg'}\n" for i, w in enumerate(("good", "bad") * 6))
    for split in ("train", "test"):
        (tmp_path / f"{split}.csv").write_text("text,label\n" + rows)
    cfg = {"name": "toy", "data": {"benchmark": None, "custom_tasks": [
        {"name": "t", "files": {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}}]},
        "model": {"encoder": {"type": "textcnn", "glove": False, "embedding_dim": 4, "num_filters": 2}},
        "training": {"steps": 1, "batch_size": 4}, "output": {"runs_dir": str(tmp_path / "runs")}}
    for key, value in over.items():
        section, _, leaf = key.partition("__")
        if leaf:
            cfg.setdefault(section, {})[leaf] = value
        else:
            cfg[key] = value
    return cfg


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_run_name_is_one_folder_under_the_runs_directory(tmp_path, name):
    with pytest.raises(ConfigError, match=r"name: expected a run name") as info:
        validate_config(toy(tmp_path, name=name))
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^--name: expected a run name"):
        textmtl.train(toy(tmp_path), name=name, progress=False)
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "escaped_run").exists()


def test_names_the_project_uses_stay_valid(tmp_path):
    for name in ("fdu-mtl-quick", "textcnn-ls-s1", "SST-2-s1-0a1b2c3d4e", "amazon14-ls-45ep-s1", "a+b.c_d"):
        assert validate_config(toy(tmp_path, name=name)).name == name


@pytest.mark.parametrize("key,value,match", [
    ("seed", -5, "seed: Input should be greater than or equal to 0"),
    ("seed", 2**70, "seed: Input should be less than"),
    ("training__epochs", 1e308, "training.epochs: Input should be less than or equal to 1000000"),
    ("training__device", "tpu", "training.device: expected auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
    ("training__device", "meta", "training.device: expected auto, cpu, cuda, cuda:N or mps"),
])
def test_out_of_range_settings_are_one_line_errors(tmp_path, key, value, match):
    with pytest.raises(ConfigError, match=match) as info:
        validate_config(toy(tmp_path, **{key: value}))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kernels,match", [([], "at least 1 item"), ([0], "greater than or equal to 1"),
                                           ([-3], "greater than or equal to 1")])
def test_textcnn_needs_kernels(tmp_path, kernels, match):
    cfg = toy(tmp_path)
    cfg["model"]["encoder"]["kernel_sizes"] = kernels
    with pytest.raises(ConfigError, match=rf"model.encoder.kernel_sizes.*{match}"):
        validate_config(cfg)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
@pytest.mark.parametrize("device", ["cuda", "cuda:99"])
def test_a_device_that_is_not_there_stops_before_anything_is_written(tmp_path, device):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(toy(tmp_path, training__device=device)))
    code, printed = run_main(["train", str(config), "--quiet"])
    assert code == 2 and "Traceback" not in printed, printed
    assert len(printed.strip().splitlines()) == 1 and f"training.device: '{device}' is not available" in printed
    assert not (tmp_path / "runs").exists()


def test_yaml_exponents_are_floats_everywhere(tmp_path):
    """PyYAML (YAML 1.1) reads `1e-3` as a string: `training.lr: 1e-3` worked through pydantic's
    coercion, `epsilon: 1e-3` in a method block did not."""
    from textmtl.config import load_config
    from textmtl.methods import make_method

    path = tmp_path / "c.yaml"
    cfg = toy(tmp_path)
    text = yaml.safe_dump(cfg) + "method: {name: getmtl, epsilon: 1e-3}\n"
    path.write_text(text.replace("steps: 1", "steps: 1\n  lr: 2e-4"))
    loaded = load_config(path)
    assert loaded.training.lr == 2e-4 and loaded.method.params == {"epsilon": 0.001}
    assert make_method(loaded.method.name, loaded.method.params).aggregator.epsilon == 0.001
    again = load_config(path, ["method.epsilon=5e-3"])
    assert again.method.params == {"epsilon": 0.005}


def test_a_key_given_twice_is_an_error_naming_the_line(tmp_path):
    from textmtl.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("name: a\nseed: 1\nname: b\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: invalid YAML: key 'name' is given twice in one mapping"):
        load_config(path)


def test_a_complex_key_is_still_a_one_line_error(tmp_path):
    from textmtl.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("? [1, 2]\n: 3\n")  # found by the fuzzer: an unhashable key
    with pytest.raises(ConfigError, match=r"c.yaml:1: invalid YAML: found unhashable key"):
        load_config(path)


# ---------------------------------------------------------------- the rest of issue 22's list


def write(tmp_path: Path, cfg: dict) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def one_line_exit_2(args: list[str], *needles: str) -> str:
    code, printed = run_main(args)
    assert code == 2 and "Traceback" not in printed and len(printed.strip().splitlines()) == 1, printed
    for needle in needles:
        assert needle in printed, printed
    return printed


@pytest.mark.parametrize("name", ["reviews.v2", "", "a b", "x/y", "é" * 3])
def test_a_task_name_that_cannot_key_a_module_is_refused(tmp_path, name):
    cfg = toy(tmp_path)
    cfg["data"]["custom_tasks"][0]["name"] = name
    one_line_exit_2(["train", write(tmp_path, cfg)], "data.custom_tasks.0.name: expected a task name")
    assert not (tmp_path / "runs").exists()


def test_data_files_that_are_not_regular_files(tmp_path):
    import os

    cfg = toy(tmp_path)
    (tmp_path / "train.csv").unlink()
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    os.symlink(tmp_path / "a", tmp_path / "train.csv")
    one_line_exit_2(["train", write(tmp_path, cfg)], "train.csv: is a symlink loop, expected a file")
    (tmp_path / "train.csv").unlink()
    os.mkfifo(tmp_path / "train.csv")
    one_line_exit_2(["train", write(tmp_path, cfg)], "train.csv: is a FIFO, expected a regular file")
    cfg["data"]["custom_tasks"][0]["files"]["train"] = "/dev/null"
    one_line_exit_2(["train", write(tmp_path, cfg)], "/dev/null: is a device, expected a regular file")
    assert not (tmp_path / "runs").exists()


def test_a_runs_directory_that_cannot_be_made_fails_before_the_data_is_read(tmp_path, monkeypatch):
    cfg = toy(tmp_path, output={"runs_dir": "/etc/passwd/runs"})
    read = []
    monkeypatch.setattr("textmtl.training.lifecycle.load_tasks", lambda *a, **k: read.append(1))
    one_line_exit_2(["train", write(tmp_path, cfg)], "output.runs_dir: cannot create /etc/passwd/runs",
                    "/etc/passwd is a file")
    assert not read


@pytest.mark.parametrize("label", ["null", "[1]", "NaN", '{"a": 1}'])
def test_a_jsonl_label_that_is_no_scalar_is_a_bad_line(tmp_path, label):
    rows = "".join(f'{{"text": "film {i}", "label": "{["pos", "neg"][i % 2]}"}}\n' for i in range(8))
    (tmp_path / "t.jsonl").write_text(rows + '{"text": "odd", "label": ' + label + "}\n")
    (tmp_path / "u.jsonl").write_text(rows)
    cfg = toy(tmp_path)
    cfg["data"]["custom_tasks"][0]["files"] = {"train": str(tmp_path / "t.jsonl"), "test": str(tmp_path / "u.jsonl")}
    one_line_exit_2(["train", write(tmp_path, cfg)], "t.jsonl:9: a label must be a string")


def test_duplicate_keys_and_columns_are_errors(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"text": "good", "label": "pos", "label": "neg"}\n' * 4)
    cfg = toy(tmp_path)
    cfg["data"]["custom_tasks"][0]["files"] = {"train": str(tmp_path / "t.jsonl"), "test": str(tmp_path / "test.csv")}
    cfg["data"]["custom_tasks"][0]["labels"] = ["pos", "neg"]
    one_line_exit_2(["train", write(tmp_path, cfg)], "t.jsonl:1: key 'label' is given twice in one object")
    (tmp_path / "d.csv").write_text("text,label,label\ngood,pos,x\nbad,neg,y\n")
    cfg["data"]["custom_tasks"][0]["files"] = {"train": str(tmp_path / "d.csv"), "test": str(tmp_path / "test.csv")}
    one_line_exit_2(["train", write(tmp_path, cfg)], "d.csv:1: column 'label' (for label) appears more than once")


def test_empty_test_or_dev_splits_are_errors_not_nan(tmp_path):
    cfg = toy(tmp_path)
    (tmp_path / "test.csv").write_text("text,label\n")
    one_line_exit_2(["train", write(tmp_path, cfg)], "task 't' has no test examples")
    cfg = toy(tmp_path)
    (tmp_path / "dev.csv").write_text("text,label\n")  # a dev file with no rows (dev_size: 0 means no dev
    cfg["data"]["custom_tasks"][0]["files"]["dev"] = str(tmp_path / "dev.csv")  # split: test_no_dev_split)
    one_line_exit_2(["train", write(tmp_path, cfg)], "task 't' has no dev examples")
    assert not (tmp_path / "runs").exists()


def test_an_empty_config_file_and_a_huge_one_are_refused(tmp_path):
    for text in ("", "null\n", "# nothing\n"):
        (tmp_path / "c.yaml").write_text(text)
        one_line_exit_2(["train", str(tmp_path / "c.yaml")], "the config is empty")
    (tmp_path / "c.yaml").write_text("x: [" + "1, " * 600_000 + "1]\n")
    one_line_exit_2(["train", str(tmp_path / "c.yaml")], "a config is at most 1 MB")


@pytest.mark.parametrize("key,value", [("training__batch_size", True), ("training__lr", 1e300), ("seed", False)])
def test_booleans_and_absurd_numbers(tmp_path, key, value):
    with pytest.raises(ConfigError) as info:
        validate_config(toy(tmp_path, **{key: value}))
    assert "\n" not in str(info.value)
    assert "expected a number, got a boolean" in str(info.value) or "less than or equal to 10000" in str(info.value)


@pytest.fixture
def finished(tmp_path):
    return textmtl.train(toy(tmp_path, training__steps=2), progress=False).path


def test_damaged_runs_are_one_line_errors(finished, tmp_path):
    import json
    import shutil

    (tmp_path / "in.txt").write_text("good film\n")
    predict = ["predict", None, "--task", "t", "--input", str(tmp_path / "in.txt")]
    damages = {
        "config.yaml": (b"a: [b\n", "config.yaml: not readable YAML"),
        "model.safetensors": (b"", "model.safetensors: not readable safetensors"),
    }
    for i, (name, (data, needle)) in enumerate(damages.items()):
        copy = tmp_path / f"copy{i}"
        shutil.copytree(finished, copy)
        (copy / name).write_bytes(data)
        one_line_exit_2(["evaluate", str(copy)], needle)
    for i, (text, needle) in enumerate([("[1, 2]", "expected a JSON object"), ("{\"format\": \"textmtl-run/1\"}",
                                                                              "no tasks, text_encoder, method")]):
        copy = tmp_path / f"json{i}"
        shutil.copytree(finished, copy)
        (copy / "model.json").write_text(text)
        one_line_exit_2([c if c is not None else str(copy) for c in predict], needle)
    for i, edit in enumerate(["kind", "labels"]):
        copy = tmp_path / f"edit{i}"
        shutil.copytree(finished, copy)
        d = json.loads((copy / "model.json").read_text())
        if edit == "kind":
            d["tasks"][0]["kind"] = "telepathy"
        else:
            d["tasks"][0]["labels"] = list(reversed(d["tasks"][0]["labels"]))  # would swap every prediction
        (copy / "model.json").write_text(json.dumps(d))
        needle = "a task is not readable" if edit == "kind" else "differ from those the weights were saved with"
        one_line_exit_2([c if c is not None else str(copy) for c in predict], needle)
    (tmp_path / "outdir").mkdir()
    one_line_exit_2([c if c is not None else str(finished) for c in predict] + ["--output", str(tmp_path / "outdir")],
                    "is a directory; give a file name")


def test_predict_reads_pipes_once_and_refuses_utf16(finished, tmp_path):
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "textmtl.cli", "predict", str(finished), "--task", "t", "--input",
                           "/dev/stdin"], input=b"good film\nbad film\n\n", capture_output=True, timeout=120)
    assert done.returncode == 0 and done.stdout.decode().splitlines()[2] == "<empty>", done.stderr
    assert len(done.stdout.decode().splitlines()) == 3
    os.mkfifo(tmp_path / "fifo")
    proc = subprocess.Popen([sys.executable, "-m", "textmtl.cli", "predict", str(finished), "--task", "t", "--input",
                             str(tmp_path / "fifo")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(tmp_path / "fifo", "w") as fh:
        fh.write("good film\nbad film\n")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and len(out.decode().splitlines()) == 2, err
    (tmp_path / "u16.txt").write_bytes("good film\nbad film\n".encode("utf-16"))
    one_line_exit_2(["predict", str(finished), "--task", "t", "--input", str(tmp_path / "u16.txt")],
                    "is UTF-16 (it starts with a UTF-16 byte-order mark); re-save it as UTF-8")


def test_a_damaged_checkpoint_is_one_line_and_the_run_stays_for_the_user(tmp_path):
    import os

    from textmtl.training.checkpoint import STATE_FILE

    cfg = toy(tmp_path, training__steps=4, training__checkpoint_every=1)
    partial = tmp_path / "runs" / "toy.partial"

    class Stop(Exception):
        pass

    from textmtl.training import lifecycle

    real = lifecycle.RunCheckpoint.__call__
    calls = []

    def stop_after_two(self, trainer, state):
        real(self, trainer, state)
        calls.append(1)
        if len(calls) == 2:
            raise Stop

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lifecycle.RunCheckpoint, "__call__", stop_after_two)
        with pytest.raises(Stop):
            textmtl.train(cfg, progress=False)
    assert (partial / "checkpoint" / STATE_FILE).is_file()
    for f in (partial / "checkpoint").glob("*.safetensors"):
        f.write_bytes(os.urandom(500))
    one_line_exit_2(["train", "--resume", str(partial)], "unreadable checkpoint")
    assert partial.is_dir()  # the interrupted run is left as it was


def test_a_run_killed_before_its_first_checkpoint_does_not_push_the_next_one_aside(tmp_path):
    cfg = toy(tmp_path, training__checkpoint_every=0)
    stale = tmp_path / "runs" / "toy.partial"
    stale.mkdir(parents=True)
    (stale / "config.yaml").write_text("name: toy\n")  # what a killed run leaves: no checkpoint, nobody writing
    path = textmtl.train(cfg, progress=False).path
    assert path.name == "toy" and not stale.exists() and not (path / "checkpoint").exists()
    assert not (path / ".lock").exists()


def test_runs_of_one_name_started_together_all_get_their_own_folder(tmp_path):
    import subprocess
    import sys

    config = write(tmp_path, toy(tmp_path, training__steps=2))
    procs = [subprocess.Popen([sys.executable, "-m", "textmtl.cli", "train", config, "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0] * 4
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["toy", "toy-2", "toy-3", "toy-4"]


def test_a_name_being_reserved_is_not_taken_for_a_stale_one(tmp_path):
    """The window between another process's `mkdir` of `toy.partial` and its lock: reserving waits for
    that process's turn to end instead of removing the `.partial` as stale (seen under load as one of
    four concurrent `textmtl train` runs exiting with code 2)."""
    import fcntl
    import os
    import threading

    from textmtl.training.run_directory import LOCK_FILE, reserve_run_path

    runs = tmp_path / "runs"
    runs.mkdir()
    turn = os.open(runs, os.O_RDONLY)
    fcntl.flock(turn, fcntl.LOCK_EX)  # "the other process" is reserving: its .partial has no lock yet
    (runs / "toy.partial").mkdir()
    got: list = []
    waiting = threading.Thread(target=lambda: got.append(reserve_run_path(runs, "toy")))
    waiting.start()
    waiting.join(timeout=1.0)
    assert waiting.is_alive() and (runs / "toy.partial").is_dir()  # it waits, and removed nothing
    theirs = os.open(runs / "toy.partial" / LOCK_FILE, os.O_CREAT | os.O_RDWR)
    fcntl.flock(theirs, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "the other process" holds its run now
    os.close(turn)
    waiting.join(timeout=30)
    final, lock = got[0]
    assert final.name == "toy-2" and (runs / "toy.partial" / LOCK_FILE).exists()
    os.close(lock)
    os.close(theirs)


def test_a_second_resume_of_one_run_is_refused_while_the_first_holds_it(tmp_path):
    from textmtl.errors import TrainingError
    from textmtl.training.run_directory import LOCK_FILE, RunWriter, reserve_run_path

    final, lock = reserve_run_path(tmp_path / "runs", "toy")
    assert (final.with_name("toy.partial") / LOCK_FILE).exists()
    with pytest.raises(TrainingError, match="another process is writing"):
        RunWriter.reopen(final.with_name("toy.partial"), 0)
    import os

    os.close(lock)

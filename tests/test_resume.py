"""Exact resume: the checkpoint codec and files, every method's state, in-process interruptions,
and a `textmtl train` subprocess killed with SIGKILL and resumed with `--resume`."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

import textmtl
import textmtl.training.lifecycle
from textmtl.api import as_config, encode_tasks, load_tasks
from textmtl.errors import ConfigError, TrainingError
from textmtl.methods import describe_methods, make_method
from textmtl.models.build import build_model, build_text_encoder
from textmtl.training.checkpoint import (
    decode,
    encode,
    read_checkpoint,
    restore_trainer,
    rng_state,
    set_rng_state,
    trainer_state,
    write_checkpoint,
)
from textmtl.training.lifecycle import seed_everything
from textmtl.training.trainer import FitState, Trainer

from .conftest import write_toy_csv_task
from .test_training import run_cli, toy_config


@pytest.fixture(autouse=True)
def _restore_threads():
    """Configs below set `num_threads: 1`; give the other test modules their thread count back."""
    previous = torch.get_num_threads()
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    return write_toy_csv_task(tmp_path_factory.mktemp("toy"))


# ------------------------------------------------------------------ codec and files

def test_codec_round_trips_nested_values_and_tensors_exactly():
    value = {
        "floats": [0.1, 1e-310, -0.0, math.inf, 2.0**60 + 0.5], "big": 2**100 + 1, "none": None, "flag": True,
        "int_keys": {0: {"step": torch.tensor(3.0)}, 7: "x"}, "tuple": (1, (2.5, "b")), "__odd": 1,
        "tensors": [torch.randn(3, 4, dtype=torch.float64), torch.zeros(0), torch.get_rng_state(),
                    torch.arange(6).reshape(2, 3).T],  # a non-contiguous view
        "array": np.arange(5, dtype=np.uint32), "scalar": np.float32(0.1), "nan": math.nan,
    }
    tensors: dict[str, torch.Tensor] = {}
    text = json.dumps(encode(value, tensors))
    back = decode(json.loads(text), tensors)
    assert back["floats"] == value["floats"] and back["big"] == value["big"] and back["__odd"] == 1
    assert back["int_keys"][7] == "x" and torch.equal(back["int_keys"][0]["step"], torch.tensor(3.0))
    assert back["tuple"] == (1, (2.5, "b")) and math.isnan(back["nan"])
    assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(back["tensors"], value["tensors"]))
    assert back["array"].dtype == np.uint32 and (back["array"] == value["array"]).all()
    assert back["scalar"] == float(np.float32(0.1))
    with pytest.raises(TypeError, match="set"):
        encode({"bad": {1, 2}}, {})


def test_write_checkpoint_replaces_atomically_and_cleans_up(tmp_path):
    d = tmp_path / "checkpoint"
    linear = torch.nn.Linear(3, 3)
    tied = {"w": linear.weight, "same": linear.weight, "n": 1}  # shared storage
    write_checkpoint(d, tied)
    first = sorted(p.name for p in d.iterdir())
    (d / "state.json.tmp").write_text("{ half written")  # debris of a killed writer
    (d / "tensors-dead.safetensors.tmp").write_bytes(b"\0" * 10)
    write_checkpoint(d, {"w": linear.weight * 2, "n": 2})
    names = sorted(p.name for p in d.iterdir())
    assert len(names) == 2 and "state.json" in names and not set(names) & (set(first) - {"state.json"})
    back = read_checkpoint(d)
    assert back["n"] == 2 and torch.equal(back["w"], linear.weight.detach() * 2)
    (d / "state.json").write_text("{}")
    with pytest.raises(TrainingError, match="unknown checkpoint format"):
        read_checkpoint(d)


# ------------------------------------------------------------------ every method, bit-identical after a restore

def build_trainer(cfg_dict: dict) -> Trainer:
    cfg = as_config(cfg_dict)
    method = make_method(cfg.method.name, cfg.method.params)
    tasks = load_tasks(cfg)
    encoder = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    seed_everything(cfg.seed)
    model = build_model(cfg.model, [t.spec for t in tasks], encoder, seed=cfg.seed)
    return Trainer(model, method, encode_tasks(tasks, encoder), cfg.training, seed=cfg.seed, pad_id=encoder.pad_id)


def _params(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.model.parameters()]


EXTRA = [("pcgrad", {"seed": 1}), ("graddrop", {"seed": 1}), ("gradvac", {"seed": 1}),
         ("nash_mtl", {"update_every": 3}), ("dwa", {"window": 2}), ("cagrad", {"backend": "representation"})]


@pytest.mark.parametrize("name, params", [(n, {}) for n in sorted(describe_methods())] + EXTRA)
def test_every_method_continues_bit_identically_after_a_checkpoint(name, params, toy_dir, tmp_path):
    """5 steps straight == 2 steps, checkpoint to disk, fresh trainer + model + method, 3 steps."""
    cfg = toy_config(toy_dir, tmp_path / "runs", method={"name": name, **params},
                     training={"steps": 5, "eval_every": 100, "batch_size": 8, "lr": 0.01,
                               "sampling": {"strategy": "uniform", "tasks_per_step": 2}})
    straight = build_trainer(cfg)
    expected = [straight.step(s) for s in range(1, 6)]

    first = build_trainer(cfg)
    for s in (1, 2):
        first.step(s)
    write_checkpoint(tmp_path / "ck", {"model": first.model.state_dict(), "rng": rng_state(),
                                       "trainer": trainer_state(first, FitState(step=2))})
    resumed = build_trainer(cfg)
    with torch.no_grad():
        for p in resumed.model.parameters():  # other weights: the checkpoint must restore them
            p.add_(torch.randn_like(p))
    torch.manual_seed(12345)  # scramble the global RNG: the checkpoint must restore it
    saved = read_checkpoint(tmp_path / "ck")
    resumed.model.load_state_dict(saved["model"])
    assert restore_trainer(resumed, saved["trainer"]).step == 2
    set_rng_state(saved["rng"])
    assert json.dumps(encode(resumed.method.state_dict(), {})) == json.dumps(encode(first.method.state_dict(), {}))
    got = [resumed.step(s) for s in (3, 4, 5)]
    assert got == expected[2:]
    assert all(torch.equal(a, b) for a, b in zip(_params(resumed), _params(straight)))
    assert json.dumps(encode(resumed.method.state_dict(), {})) == json.dumps(encode(straight.method.state_dict(), {}))


# ------------------------------------------------------------------ interrupted in process, resumed with the API

def interrupt_at(monkeypatch, call: int) -> None:
    """Make the `call`-th Trainer.step raise KeyboardInterrupt (like Ctrl-C)."""
    original, calls = Trainer.step, {"n": 0}

    def step(self, step):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return original(self, step)

    monkeypatch.setattr(Trainer, "step", step)


def history(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    for r in records:
        r.pop("elapsed_seconds")
    return records


def assert_same_run(a: Path, b: Path) -> None:
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (a, b))
    for m in (ma, mb):  # wall times differ; everything else must not
        m.pop("wall_seconds"), m["architecture"].pop("wall_seconds_per_step")
    assert ma == mb
    wa, wb = (load_file(str(r / "model.safetensors")) for r in (a, b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    ha, hb = history(a), history(b)
    assert ha == hb
    keys = [(r["job"], r["step"]) for r in hb]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("method, training, cut", [
    ("ls", {}, 9),
    ("uw", {"checkpoint_every": 3}, 11),
    ("famo", {"sampling": {"strategy": "uniform", "tasks_per_step": 1}}, 11),
    ("ls", {"sampling": {"strategy": "bandit", "tasks_per_step": 1}, "eval_every": 2}, 7),
    ("ls", {"sampling": {"strategy": "worst_first", "tasks_per_step": 1}}, 9),
    ("nash_mtl", {"checkpoint_every": 4}, 7),
    ("stl", {}, 17),  # in the second task's job
    ("ls", {"patience": 2, "eval_every": 2}, 5),  # early stopping (at step 6) after the resume
    ("ls", {"patience": 2, "eval_every": 2}, 0),  # interrupted after the early stop, before the run is saved
    ("stl", {"checkpoint_every": 5}, 0),
])
def test_interrupted_run_resumes_to_the_same_result(method, training, cut, toy_dir, tmp_path, monkeypatch):
    cfg = toy_config(toy_dir, tmp_path / "runs", method=method,
                     training={"steps": 12, "eval_every": 4, "batch_size": 8, "lr": 0.01, **training})
    reference = textmtl.train(cfg, progress=False, name="reference")
    with monkeypatch.context() as m:
        if cut:
            interrupt_at(m, cut)
        else:
            m.setattr(textmtl.training.lifecycle, "final_metrics", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            textmtl.train(cfg, progress=False, name="cut")
    partial = tmp_path / "runs" / "cut.partial"
    assert (partial / "checkpoint" / "state.json").exists() and not (tmp_path / "runs" / "cut").exists()
    resumed = textmtl.train(resume=tmp_path / "runs" / "cut", progress=False)  # the path without .partial
    assert resumed.path == tmp_path / "runs" / "cut" and not partial.exists()
    assert not (resumed.path / "checkpoint").exists()
    assert_same_run(reference.path, resumed.path)
    if training.get("patience"):
        assert reference.metrics["steps"] == 6  # the early stop did happen


def test_unlabelled_streams_resume_exactly(toy_csv_task, tmp_path, monkeypatch):
    """ASP-MTL with unlabelled text: the unlabelled batch streams are part of the checkpoint."""
    from .test_training import unlabelled_config

    cfg = unlabelled_config(toy_csv_task, tmp_path / "runs")
    cfg["training"].update({"steps": 12, "checkpoint_every": 3})
    reference = textmtl.train(cfg, progress=False, name="reference")
    with monkeypatch.context() as m:
        interrupt_at(m, 8)
        with pytest.raises(KeyboardInterrupt):
            textmtl.train(cfg, progress=False, name="cut")
    state = read_checkpoint(tmp_path / "runs" / "cut.partial" / "checkpoint")
    assert set(state["trainer"]["unlabelled_streams"]) == {"toy_a", "toy_b"}
    resumed = textmtl.train(resume=tmp_path / "runs" / "cut", progress=False)
    assert_same_run(reference.path, resumed.path)


def test_resume_errors_are_one_line(toy_dir, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    cfg = toy_config(toy_dir, runs, training={"steps": 6, "eval_every": 2, "batch_size": 8})
    done = textmtl.train(cfg, progress=False, name="done")
    with pytest.raises(TrainingError, match="finished run; nothing to resume"):
        textmtl.train(resume=done.path, progress=False)
    with pytest.raises(TrainingError, match="finished run; nothing to resume"):
        textmtl.train(resume=runs / "done.partial", progress=False)
    with pytest.raises(TrainingError, match="no interrupted run"):
        textmtl.train(resume=runs / "nowhere", progress=False)
    (runs / "empty.partial").mkdir()
    with pytest.raises(TrainingError, match="has no checkpoint"):
        textmtl.train(resume=runs / "empty.partial", progress=False)
    with pytest.raises(ConfigError, match="give a config"):
        textmtl.train(progress=False)
    with monkeypatch.context() as m:
        interrupt_at(m, 4)
        with pytest.raises(KeyboardInterrupt):
            textmtl.train(cfg, progress=False, name="cut")
    partial = runs / "cut.partial"
    with pytest.raises(ConfigError, match=r"'training.lr' differs .*run: 0.001, given: 0.5"):
        textmtl.train(cfg, overrides=["training.lr=0.5"], resume=partial, progress=False)
    with pytest.raises(ConfigError, match="--name"):
        textmtl.train(resume=partial, name="other", progress=False)
    changed = toy_config(toy_dir, runs, training={"steps": 6, "eval_every": 2, "batch_size": 8})
    changed["data"]["custom_tasks"][1]["files"]["dev"] = changed["data"]["custom_tasks"][1]["files"]["test"]
    monkeypatch.setattr(textmtl.training.lifecycle, "resume_config", lambda *a: as_config(changed))
    with pytest.raises(TrainingError, match="data or vocabulary"):
        textmtl.train(resume=partial, progress=False)
    assert (partial / "checkpoint" / "state.json").exists()  # failed resumes leave the run intact
    monkeypatch.undo()
    assert textmtl.train(cfg, resume=partial, progress=False).metrics["steps"] == 6  # an equal config is fine
    proc = run_cli("train", "--resume", str(done.path), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1 and "nothing to resume" in proc.stderr


def test_no_checkpoint_means_no_partial_left_after_an_interruption(toy_dir, tmp_path, monkeypatch):
    cfg = toy_config(toy_dir, tmp_path / "runs", training={"steps": 6, "batch_size": 8, "checkpoint_every": 0})
    interrupt_at(monkeypatch, 4)
    with pytest.raises(KeyboardInterrupt):
        textmtl.train(cfg, progress=False)
    assert not any((tmp_path / "runs").iterdir())


# ------------------------------------------------------------------ SIGKILL a real `textmtl train`, then --resume

def _checkpoint_step(state: Path) -> int:
    try:
        return int(json.loads(state.read_text())["state"]["trainer"]["fit"]["step"])
    except (OSError, ValueError, KeyError):
        return -1


@pytest.mark.parametrize("method", ["ls", "famo"])
def test_sigkill_mid_training_then_resume_equals_an_uninterrupted_run(method, tmp_path):
    data = write_toy_csv_task(tmp_path)
    for steps in (40, 160, 640):  # if the run outpaces the polling, try a longer one
        runs = tmp_path / f"runs-{steps}"
        cfg = toy_config(data, runs, method=method, training={
            "steps": steps, "eval_every": 5, "checkpoint_every": 5, "batch_size": 8, "lr": 0.01, "num_threads": 1})
        config = tmp_path / f"c-{steps}.yaml"
        config.write_text(yaml.safe_dump(cfg))
        proc = subprocess.Popen([sys.executable, "-m", "textmtl", "train", str(config), "--quiet"], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        state = runs / "toy.partial" / "checkpoint" / "state.json"
        killed_at, give_up = -1, time.monotonic() + 600  # a safety net, not a timing assertion
        try:
            while proc.poll() is None and time.monotonic() < give_up:
                step = _checkpoint_step(state)
                if step >= 10:
                    proc.send_signal(signal.SIGKILL)
                    killed_at = step
                    break
                time.sleep(0.002)
        finally:
            if proc.poll() is None and killed_at < 0:
                proc.kill()
            _, stderr = proc.communicate()
        if killed_at >= 0:
            break
        assert proc.returncode == 0, stderr
    else:
        pytest.fail("textmtl train finished before it could be killed at a checkpoint >= step 10 (640 steps)")
    assert proc.returncode == -signal.SIGKILL
    assert (runs / "toy.partial").is_dir() and not (runs / "toy").exists()
    assert killed_at < steps

    resumed = run_cli("train", "--resume", str(runs / "toy.partial"), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    reference = textmtl.train(cfg, progress=False, name="reference")
    assert_same_run(reference.path, runs / "toy")
    assert [r["step"] for r in history(runs / "toy")] == list(range(5, steps + 1, 5))
    metrics = json.loads((runs / "toy" / "metrics.json").read_text())
    assert metrics["best_step"] == reference.metrics["best_step"] and metrics["steps"] == steps

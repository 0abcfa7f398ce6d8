"""Device rules, encoder-specific training defaults, HF key suggestions, and progress in logs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from textmtl.config import as_config
from textmtl.errors import ConfigError
from textmtl.training.devices import check_device_available, resolve_device

from ._cli import run_main


def test_auto_is_the_default_and_resolves_to_what_the_machine_has(monkeypatch):
    assert as_config({}).training.device == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"


def test_a_missing_device_is_one_line_before_anything_is_written(toy_csv_task, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"'cuda:3' does not exist \(2 CUDA device\(s\): cuda:0..cuda:1\)"):
        check_device_available("cuda:3")
    monkeypatch.undo()
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    files = {s: str(toy_csv_task / f"{s}.csv") for s in ("train", "dev", "test")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"data": {"benchmark": None, "custom_tasks": [
        {"name": "t", "files": files}]}, "training": {"steps": 2}}))
    for device in ("cuda", "cuda:1"):
        code, printed = run_main(["train", str(tmp_path / "c.yaml"), "--set", f"training.device={device}",
                                  "--runs-dir", str(tmp_path / "runs")])
        assert code == 2 and len(printed.strip().splitlines()) == 1 and "is not available" in printed
    assert not (tmp_path / "runs").exists()
    code, printed = run_main(["train", str(tmp_path / "c.yaml"), "--set", "training.device=tpu"])
    assert code == 2 and "--set training.device=tpu: training.device: expected auto, cpu, cuda" in printed


def test_transformer_encoders_get_fine_tuning_defaults_unless_set():
    cfg = as_config({"model": {"encoder": {"type": "transformer"}}})
    t = cfg.training
    assert (t.optimizer, t.lr, t.scheduler, t.warmup_ratio, t.weight_decay, t.epochs) == (
        "adamw", 5e-5, "linear", 0.1, 0.01, 3)
    assert cfg.to_yaml().startswith("# training defaults of the transformer encoder (not set in the config): ")
    own = as_config({"model": {"encoder": {"type": "transformer"}}, "training": {"lr": 2e-5, "steps": 100}})
    assert own.training.lr == 2e-5 and own.training.optimizer == "adamw" and "epochs" not in own.encoder_defaults
    cnn = as_config({"model": {"encoder": {"type": "textcnn"}}}).training
    assert (cnn.optimizer, cnn.lr, cnn.scheduler, cnn.epochs) == ("adam", 1e-3, "constant", 10)
    again = as_config(yaml.safe_load(cfg.to_yaml()))  # the resolved config.yaml reads back to the same values
    assert again.training == cfg.training


def test_hf_trainer_names_get_a_suggestion_naming_the_set():
    for key, target in (("training.learning_rate", "training.lr"), ("training.num_train_epochs", "training.epochs"),
                        ("per_device_train_batch_size", "training.batch_size")):
        with pytest.raises(ConfigError) as info:
            as_config({}, [f"{key}=3"])
        message = str(info.value)
        assert message.startswith(f"--set {key}=3: unknown key") and f"did you mean '{target}'?" in message


def test_progress_in_a_log_is_plain_lines_with_the_last_evaluation(toy_csv_task, tmp_path):
    files = {s: str(toy_csv_task / f"{s}.csv") for s in ("train", "dev", "test")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "data": {"benchmark": None, "custom_tasks": [{"name": "t", "files": files}]},
        "model": {"encoder": {"type": "textcnn", "embedding_dim": 8, "num_filters": 4, "kernel_sizes": [2],
                              "glove": False}},
        "training": {"steps": 20, "eval_every": 10, "batch_size": 8, "device": "cpu"},
        "output": {"runs_dir": str(tmp_path / "runs"), "log_every": 5}}))
    done = subprocess.run([sys.executable, "-m", "textmtl.cli", "train", str(tmp_path / "c.yaml")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "ls: 20 steps" in lines
    assert [line.split(" loss ")[0] for line in lines if " loss " in line] == [
        f"ls step {s}/20 ({line.split('(')[1].split(')')[0]})" for s, line in
        zip((5, 10, 15, 20), [x for x in lines if " loss " in x])]
    assert "t: train 120, dev 40, test 40" in lines  # each task's split sizes
    evaluations = [line for line in lines if ") dev " in line]
    assert len(evaluations) == 2 and evaluations[-1].startswith("ls step 20/20")  # the last one included
    assert not any("\x1b[" in line or "━" in line for line in lines)  # no terminal control codes


def test_a_trainer_built_directly_moves_its_model_to_the_configured_device(monkeypatch):
    """benchmarks/gpu_check.py builds its Trainer without run_training, which is what moved the model:
    on the first GPU it was run on, every step failed with 'index is on cuda:0 ... other tensors on cpu'."""
    from textmtl.models.architectures.base import Architecture

    from ._parallel_setup import config, make_trainer

    moved: list[torch.device] = []
    original = Architecture.to

    def spy(self, *args, **kwargs):
        moved.extend(a for a in args if isinstance(a, torch.device))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Architecture, "to", spy)
    trainer = make_trainer(config("ls", steps=1))
    assert moved == [torch.device("cpu")] and trainer.device == torch.device("cpu")

"""Numerical guards: non-finite losses or gradients skip the step, are counted per task, and
too many in a row stop training with an error naming the task."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import textmtl
import textmtl.training.lifecycle
from textmtl.errors import TrainingError
from textmtl.models.architectures import TaskOutput
from textmtl.training.trainer import Trainer

from .conftest import write_toy_csv_task
from .test_resume import build_trainer
from .test_training import toy_config


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    return write_toy_csv_task(tmp_path_factory.mktemp("toy"))


def poison(model, task: str, steps: set[int], clock: dict) -> None:
    """`task`'s logits become NaN on the training forward passes of `steps`."""
    forward = model.forward

    def poisoned(t, batch):
        out = forward(t, batch)
        if t == task and model.training and clock["step"] in steps:
            return TaskOutput(out.logits * float("nan"), out.representation)
        return out

    model.forward = poisoned


def clocked(monkeypatch) -> dict:
    """A dict whose 'step' follows Trainer.step."""
    clock, original = {"step": 0}, Trainer.step

    def step(self, step):
        clock["step"] = step
        return original(self, step)

    monkeypatch.setattr(Trainer, "step", step)
    return clock


def snapshot(trainer: Trainer):
    params = [p.detach().clone() for p in trainer.model.parameters()]
    return params, json.dumps(trainer.method.state_dict()), trainer.scheduler.last_epoch


@pytest.mark.parametrize("method", ["uw", "famo", "gradvac"])
def test_nan_loss_steps_are_skipped_and_counted(method, toy_dir, tmp_path, monkeypatch):
    clock = clocked(monkeypatch)
    trainer = build_trainer(toy_config(toy_dir, tmp_path, method=method,
                                       training={"steps": 8, "batch_size": 8, "lr": 0.01}))
    poison(trainer.model, "toy_b", {3, 4}, clock)
    for step in range(1, 7):
        params, method_state, epoch = snapshot(trainer)
        losses = trainer.step(step)
        same = all(torch.equal(a, b) for a, b in zip(params, trainer.model.parameters()))
        if step in (3, 4):
            assert same and json.dumps(trainer.method.state_dict()) == method_state  # nothing moved
            assert set(losses) == {"toy_a"}  # the finite loss is still reported
            assert all(p.grad is None for p in trainer.model.parameters())
        else:
            assert not same and set(losses) == {"toy_a", "toy_b"}
        assert trainer.scheduler.last_epoch == epoch + 1  # the schedule follows the step counter
        assert trainer.skipped_steps == ({} if step < 3 else {"toy_b": 1 if step == 3 else 2})
    assert trainer.skip_streak == {} and trainer.consecutive_skips == 0  # reset by the finite step 5


def test_non_finite_gradient_is_blamed_on_the_task_that_owns_it(toy_dir, tmp_path, monkeypatch):
    clock = clocked(monkeypatch)
    trainer = build_trainer(toy_config(toy_dir, tmp_path, training={"steps": 8, "batch_size": 8}))
    head = trainer.model.task_parameters("toy_a")[0]
    shared = trainer.model.shared_parameters()[0]
    head.register_hook(lambda g: g * float("inf") if clock["step"] == 2 else g)
    shared.register_hook(lambda g: g * float("nan") if clock["step"] == 4 else g)
    for step in range(1, 6):
        params, _, _ = snapshot(trainer)
        trainer.step(step)
        if step in (2, 4):
            assert all(torch.equal(a, b) for a, b in zip(params, trainer.model.parameters()))
    # step 2: only toy_a's head; step 4: a shared parameter, so every task of the step
    assert trainer.skipped_steps == {"toy_a": 2, "toy_b": 1}


def test_skips_reach_history_and_metrics(toy_dir, tmp_path, monkeypatch):
    clock = clocked(monkeypatch)
    build = textmtl.training.lifecycle.build_model

    def build_poisoned(*args, **kwargs):
        model = build(*args, **kwargs)
        poison(model, "toy_a", {2, 5, 6}, clock)
        return model

    monkeypatch.setattr(textmtl.training.lifecycle, "build_model", build_poisoned)
    result = textmtl.train(toy_config(toy_dir, tmp_path / "runs", training={"steps": 8, "eval_every": 4,
                                                                             "batch_size": 8}), progress=False)
    assert result.metrics["skipped_steps"] == {"toy_a": 3}
    assert json.loads((result.path / "metrics.json").read_text())["skipped_steps"] == {"toy_a": 3}
    records = [json.loads(line) for line in (result.path / "history.jsonl").read_text().splitlines()]
    assert [r["skipped_steps"] for r in records] == [{"toy_a": 1}, {"toy_a": 3}]
    assert all(math.isfinite(v) for r in records for v in r["train_loss"].values())  # no NaN running losses


def test_consecutive_skips_count_steps_whichever_task_is_to_blame(toy_dir, tmp_path, monkeypatch):
    clock = clocked(monkeypatch)
    trainer = build_trainer(toy_config(toy_dir, tmp_path, training={"steps": 8, "batch_size": 8,
                                                                    "max_consecutive_skips": 3}))
    poison(trainer.model, "toy_a", {2, 4}, clock)
    poison(trainer.model, "toy_b", {3}, clock)
    trainer.step(1)
    trainer.step(2)
    trainer.step(3)
    with pytest.raises(TrainingError, match=r"3 consecutive steps .* task toy_a \(2\), toy_b \(1\)"):
        trainer.step(4)


def test_consecutive_skips_stop_with_an_error_naming_the_task(toy_dir, tmp_path, monkeypatch):
    clock = clocked(monkeypatch)
    build = textmtl.training.lifecycle.build_model

    def build_poisoned(*args, **kwargs):
        model = build(*args, **kwargs)
        poison(model, "toy_b", set(range(3, 100)), clock)
        return model

    monkeypatch.setattr(textmtl.training.lifecycle, "build_model", build_poisoned)
    runs = tmp_path / "runs"
    cfg = toy_config(toy_dir, runs, training={"steps": 20, "batch_size": 8, "checkpoint_every": 1,
                                              "max_consecutive_skips": 4})
    with pytest.raises(TrainingError, match=r"4 consecutive steps skipped .* task toy_b \(4\)") as info:
        textmtl.train(cfg, progress=False)
    assert "\n" not in str(info.value)
    assert clock["step"] == 6  # steps 3, 4, 5, 6
    assert not runs.exists() or not any(runs.iterdir())  # a clean error removes the .partial run, checkpoint and all

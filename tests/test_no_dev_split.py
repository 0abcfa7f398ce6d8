"""Runs without a dev split (`dev_size: 0` on every task, the amazon-14 protocol): no model selection,
the model after the last step is tested, and nothing writes NaN. A dev split that is empty by
accident, or on some tasks only, is a one-line config error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from textmtl.errors import ConfigError

ROWS = "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(20))


def _config(folder: Path, **dev: dict) -> dict:
    (folder / "train.csv").write_text("text,label\n" + ROWS)
    (folder / "test.csv").write_text("text,label\n" + ROWS)
    tasks = []
    for name in ("t", "u"):
        extra = dev.get(name, {"dev_size": 0})
        files = {"train": str(folder / "train.csv"), "test": str(folder / "test.csv"), **extra.pop("files", {})}
        tasks.append({"name": name, "files": files, **extra})
    return {
        "data": {"benchmark": None, "custom_tasks": tasks},
        "model": {"encoder": {"type": "textcnn", "embedding_dim": 8, "glove": False, "num_filters": 4}},
        "training": {"steps": 6, "eval_every": 2, "batch_size": 4},
        "output": {"runs_dir": str(folder / "runs")},
    }


def test_no_dev_split_tests_the_last_step_and_writes_no_nan(tmp_path):
    from textmtl.api import evaluate, train

    result = train(_config(tmp_path), progress=False)
    text = (result.path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    metrics = json.loads(text)
    assert metrics["best_step"] == metrics["steps"] == 6  # the last step, not 0
    assert metrics["average"]["dev"] is None and metrics["average"]["test"] is not None
    history = [json.loads(line) for line in (result.path / "history.jsonl").read_text().splitlines()]
    evaluations = [r for r in history if "dev_average" in r]
    assert [r["step"] for r in evaluations] == [2, 4, 6]
    assert all(r["dev_average"] is None and r["best_dev_average"] is None for r in evaluations)
    assert "NaN" not in (result.path / "history.jsonl").read_text()
    # the saved weights are those after the last step: a second run stopped at step 6 saves the same
    again = train(_config(tmp_path), name="again", progress=False)
    first, second = load_file(result.path / "model.safetensors"), load_file(again.path / "model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)
    scores = evaluate(result.path)
    assert scores["average"]["dev"] is None and scores["average"]["test"] == pytest.approx(metrics["average"]["test"])


def test_dev_on_some_tasks_only_is_refused(tmp_path):
    from textmtl.api import train

    with pytest.raises(ConfigError, match="task 'u' has dev_size: 0 but task 't' has a dev split"):
        train(_config(tmp_path, t={"dev_size": 2}), progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_empty_dev_file_is_refused(tmp_path):
    from textmtl.api import train

    (tmp_path / "dev.csv").write_text("text,label\n")
    with pytest.raises(ConfigError, match="task 't' has no dev examples"):
        train(_config(tmp_path, t={"files": {"dev": str(tmp_path / "dev.csv")}}), progress=False)


def test_the_amazon_14_suite_trains(data_dir, tmp_path):
    """The shipped amazon-14 suite (dev_size: 0) trains and tests its last step: 3 steps of its quick grid."""
    from textmtl.api import train
    from textmtl.benchmarking.plan import plan_runs
    from textmtl.benchmarking.suite import resolve_suite

    _, runs = plan_runs(resolve_suite("amazon-14"), quick=True, methods=["ls"])
    config = runs[0].config
    config["training"]["steps"] = 3
    config["data"]["max_train_examples"] = 32
    config["data"]["max_eval_examples"] = 16
    result = train(config, data_dir=data_dir, runs_dir=tmp_path, progress=False)
    assert result.metrics["best_step"] == 3 and result.metrics["average"]["dev"] is None

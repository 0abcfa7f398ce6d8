"""End-to-end: config -> data -> training -> run directory -> evaluate / predict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import textmtl
from textmtl.errors import ConfigError, DataError


def toy_config(task_dir: Path, runs: Path, **over) -> dict:
    files = {s: str(task_dir / f"{s}.csv") for s in ("train", "dev", "test")}
    cfg = {
        "name": "toy",
        "seed": 3,
        "data": {"benchmark": None, "custom_tasks": [
            {"name": "toy_a", "files": files, "labels": ["neg", "pos"]},
            {"name": "toy_b", "files": files},
        ]},
        "model": {"encoder": {"type": "textcnn", "glove": False, "embedding_dim": 16, "num_filters": 8}},
        "training": {"epochs": 4, "batch_size": 8, "lr": 0.01, "eval_every": 10},
        "output": {"runs_dir": str(runs)},
    }
    for key, value in over.items():
        section, _, leaf = key.partition("__")
        if leaf:
            cfg.setdefault(section, {})[leaf] = value
        else:
            cfg[section] = value
    return cfg


def test_run_directory_schema_and_learning(toy_csv_task, tmp_path):
    result = textmtl.train(toy_config(toy_csv_task, tmp_path / "runs"), progress=False)
    run = result.path
    assert run == tmp_path / "runs" / "toy"
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "metrics.json", "history.jsonl", "model.safetensors",
                                               "model.json", "vocab.json"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["method"] == "ls" and metrics["seed"] == 3 and metrics["steps"] > 0 and metrics["wall_seconds"] > 0
    for task in ("toy_a", "toy_b"):
        for split in ("dev", "test"):
            assert 0.0 <= metrics["tasks"][task][split]["accuracy"] <= 1.0
    assert metrics["average"]["test"] > 0.8  # the toy task is learnable from one word
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert len(history) >= 3 and all("dev_average" in h and "train_loss" in h for h in history)
    # the saved config is complete and re-loadable
    assert textmtl.load_config(run / "config.yaml").training.lr == 0.01
    # evaluate reproduces metrics.json from the saved model
    again = textmtl.evaluate(run)
    assert again["average"]["test"] == pytest.approx(metrics["average"]["test"])
    assert textmtl.predict(run, "toy_a", ["a great movie", "an awful plot"]) == ["pos", "neg"]


def test_same_seed_same_model_different_seed_different_model(toy_csv_task, tmp_path):
    cfg = toy_config(toy_csv_task, tmp_path / "runs", training={"steps": 12, "batch_size": 8, "eval_every": 6})
    a = textmtl.train(cfg, progress=False, name="a")
    b = textmtl.train(cfg, progress=False, name="b")
    c = textmtl.train({**cfg, "seed": 4}, progress=False, name="c")
    wa, wb, wc = (load_file(str(r.path / "model.safetensors")) for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert a.metrics["tasks"] == b.metrics["tasks"]


def test_stl_trains_one_model_per_task(toy_csv_task, tmp_path):
    result = textmtl.train(toy_config(toy_csv_task, tmp_path / "runs", method="stl"), progress=False)
    weights = load_file(str(result.path / "model.safetensors"))
    assert any(k.startswith("models.toy_a.encoder.") for k in weights)
    assert any(k.startswith("models.toy_b.encoder.") for k in weights)
    assert set(result.metrics["best_step"]) == {"toy_a", "toy_b"}
    history = [json.loads(line)["job"] for line in (result.path / "history.jsonl").read_text().splitlines()]
    assert {"stl:toy_a", "stl:toy_b"} <= set(history)
    assert textmtl.evaluate(result.path)["average"]["test"] == pytest.approx(result.metrics["average"]["test"])
    assert textmtl.predict(result.path, "toy_b", ["the best story"]) == ["pos"]


@pytest.mark.parametrize("strategy", ["uniform", "proportional", "temperature", "annealed"])
def test_task_sampling_strategies_train(toy_csv_task, tmp_path, strategy):
    cfg = toy_config(toy_csv_task, tmp_path / "runs", training={"steps": 6, "eval_every": 3,
                                                                 "sampling": {"strategy": strategy}})
    result = textmtl.train(cfg, progress=False)
    assert result.metrics["steps"] == 6


def test_transformer_encoder_end_to_end(toy_csv_task, tiny_bert, tmp_path):
    cfg = toy_config(toy_csv_task, tmp_path / "runs",
                     model={"encoder": {"type": "transformer", "path": str(tiny_bert)}},
                     text={"max_length": 32}, training={"steps": 8, "batch_size": 8, "lr": 1e-3, "eval_every": 4})
    result = textmtl.train(cfg, progress=False)
    assert (result.path / "tokenizer" / "tokenizer.json").exists()
    assert textmtl.evaluate(result.path)["average"]["test"] == pytest.approx(result.metrics["average"]["test"])


def test_bad_input_leaves_no_run_directory(toy_csv_task, tmp_path):
    runs = tmp_path / "runs"
    (toy_csv_task / "train.csv").write_text("text,label\nfine,pos\n,neg\n")
    with pytest.raises(DataError, match=r"train.csv:3"):
        textmtl.train(toy_config(toy_csv_task, runs), progress=False)
    with pytest.raises(ConfigError, match="method"):
        textmtl.train(toy_config(toy_csv_task, runs, method="nope"), progress=False)
    assert not runs.exists() or not any(runs.iterdir())


def test_fdu_mtl_slices_train_end_to_end(data_dir, tmp_path):
    """The real data path: 3 FDU-MTL domains (one latin-1 file), GloVe, hard sharing; well under a minute."""
    cfg = {
        "name": "fdu-slice", "seed": 1,
        "data": {"benchmark": "fdu-mtl", "tasks": ["books", "MR", "kitchen_housewares"],
                 "max_train_examples": 300, "max_eval_examples": 100},
        "text": {"tokenizer": "whitespace", "max_length": 80},
        "model": {"encoder": {"type": "textcnn", "num_filters": 32}},
        "training": {"epochs": 3, "batch_size": 16, "lr": 0.003},
        "output": {"runs_dir": str(tmp_path / "runs")},
    }
    result = textmtl.train(cfg, progress=False, data_dir=data_dir)
    assert set(result.metrics["tasks"]) == {"books", "MR", "kitchen_housewares"}
    assert result.metrics["average"]["test"] > 0.55  # better than chance after 3 short epochs


def unlabelled_config(task_dir: Path, runs: Path, architecture: str = "adversarial", unlabelled: bool = True) -> dict:
    """toy_config with an unlabelled CSV (text column only) for toy_a; toy_b's files also get it
    unless `unlabelled` is "toy_a only"."""
    words = ["the", "movie", "was", "good", "bad", "plot", "story", "fun", "boring"]
    rows = [" ".join(words[(i * k) % len(words)] for k in range(1, 6)) for i in range(40)]
    (task_dir / "unlabelled.csv").write_text("text\n" + "\n".join(rows) + "\n")
    cfg = toy_config(task_dir, runs, training={"steps": 8, "eval_every": 4, "batch_size": 8, "lr": 0.01})
    cfg["model"]["architecture"] = architecture
    for task in cfg["data"]["custom_tasks"]:
        task["files"] = {**task["files"], "unlabelled": str(task_dir / "unlabelled.csv")}
    if unlabelled == "toy_a only":
        del cfg["data"]["custom_tasks"][1]["files"]["unlabelled"]
    cfg["data"]["unlabelled"] = bool(unlabelled)
    return cfg


def test_unlabelled_text_trains_the_adversarial_discriminator(toy_csv_task, tmp_path):
    runs = tmp_path / "runs"
    with_text = textmtl.train(unlabelled_config(toy_csv_task, runs), name="with", progress=False)
    without = textmtl.train(unlabelled_config(toy_csv_task, runs, unlabelled=False), name="without", progress=False)
    a, b = (load_file(str(r.path / "model.safetensors")) for r in (with_text, without))
    assert a.keys() == b.keys()
    assert not torch.equal(a["discriminator.weight"], b["discriminator.weight"])  # it saw the extra text
    for key in ("heads.toy_a.linear.weight", "private.toy_a.convs.0.weight"):  # and through it everything else
        assert not torch.equal(a[key], b[key])
    # micro-batches: each part of the step gets its part of the unlabelled batch
    cfg = unlabelled_config(toy_csv_task, runs)
    cfg["training"]["accumulation_steps"] = 2
    parts = textmtl.train(cfg, name="parts", progress=False)
    assert parts.metrics["steps"] == 8 and (parts.path / "model.safetensors").is_file()


def test_unlabelled_text_needs_an_architecture_and_text_for_every_task(toy_csv_task, tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(ConfigError, match="data.unlabelled: architecture 'hard' does not use unlabelled text"):
        textmtl.train(unlabelled_config(toy_csv_task, runs, architecture="hard"), progress=False)
    with pytest.raises(ConfigError, match="data.unlabelled: no unlabelled text for task.s. toy_b"):
        textmtl.train(unlabelled_config(toy_csv_task, runs, unlabelled="toy_a only"), progress=False)
    assert not runs.exists() or not any(runs.iterdir())


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textmtl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_cli_bad_config_is_one_line_exit_2_and_no_run(tmp_path):
    (tmp_path / "c.yaml").write_text("training:\n  lerning_rate: 1\n")
    proc = run_cli("train", "c.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "training.lerning_rate" in lines[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (("chekc",), "No such command 'chekc'"),
    (("train", "--bogus"), "No such option: --bogus"),
    (("benchmark", "amazon-14", "--workers", "two"), "'--workers'"),
])
def test_cli_usage_errors_are_one_line_exit_2(tmp_path, args, expected):
    proc = run_cli(*args, cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and expected in lines[0] and "--help" in lines[0], proc.stderr


def test_cli_train_skip_bad_lines_predict_and_evaluate(toy_csv_task, tmp_path):
    with open(toy_csv_task / "train.csv", "a") as fh:
        fh.write("no label column here\n")
    cfg = toy_config(toy_csv_task, tmp_path / "runs", training={"steps": 10, "batch_size": 8, "lr": 0.01})
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    failed = run_cli("train", "c.yaml", "--quiet", cwd=tmp_path)
    assert failed.returncode == 2 and "train.csv" in failed.stderr and "Traceback" not in failed.stderr
    ok = run_cli("train", "c.yaml", "--quiet", "--skip-bad-lines", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "skipped" in ok.stderr and "average" in ok.stdout
    run = tmp_path / "runs" / "toy"
    (tmp_path / "in.txt").write_text("a great movie\nawful\n")
    pred = run_cli("predict", str(run), "--task", "toy_a", "--input", "in.txt", cwd=tmp_path)
    assert pred.returncode == 0 and len(pred.stdout.split()) == 2
    missing = run_cli("evaluate", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "not a finished textmtl run" in missing.stderr


def test_select_on_picks_the_checkpoint_by_the_named_tasks_only(toy_csv_task, tmp_path):
    cfg = toy_config(toy_csv_task, tmp_path / "runs", training={"epochs": 4, "batch_size": 8, "lr": 0.01,
                                                                  "eval_every": 3, "select_on": ["toy_b"]})
    result = textmtl.train(cfg, progress=False)
    history = [json.loads(line) for line in (result.path / "history.jsonl").read_text().splitlines()]
    scores = [h["dev"]["toy_b"]["accuracy"] for h in history]
    assert all(h["select_on"] == ["toy_b"] and h["select_average"] == s for h, s in zip(history, scores))
    assert [h["best_dev_average"] for h in history] == [max(scores[: i + 1]) for i in range(len(scores))]
    best = scores.index(max(scores))  # the first evaluation reaching the best toy_b score
    assert json.loads((result.path / "metrics.json").read_text())["best_step"] == history[best]["step"]


def test_select_on_names_an_unknown_task(toy_csv_task, tmp_path):
    cfg = toy_config(toy_csv_task, tmp_path / "runs", training={"epochs": 1, "select_on": ["toy_c"]})
    with pytest.raises(ConfigError, match=r"training.select_on: no task named 'toy_c'.*toy_a, toy_b"):
        textmtl.train(cfg, progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())

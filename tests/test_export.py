"""Export of finished runs: HF folders loaded back by transformers (same logits), ONNX graphs of every
encoder type run by ONNX Runtime (same logits), and the command's errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import textmtl
from textmtl.cli import app
from textmtl.exporting import export_run
from textmtl.exporting.onnx import TaskGraph, example_inputs
from textmtl.training.run_directory import load_run

from ._cli import run_main


def toy_run(task_dir, runs, encoder, architecture="hard", tasks=("toy_a", "toy_b"), method="pcgrad", **extra):
    files = {s: str(task_dir / f"{s}.csv") for s in ("train", "dev", "test")}
    cfg = {
        "name": "toy",
        "method": method,
        "model": {"architecture": architecture, "encoder": encoder},
        "data": {"benchmark": None, "custom_tasks": [{"name": t, "files": files} for t in tasks]},
        "training": {"steps": 6, "batch_size": 8, "lr": 0.01, "device": "cpu"},
        "text": {"max_length": 64},
        "output": {"runs_dir": str(runs)},
        **extra,
    }
    return textmtl.train(cfg, progress=False).path


def texts_of(task_dir, n=100):
    lines = (task_dir / "test.csv").read_text().splitlines()[1:]
    texts = [line.rsplit(",", 1)[0] for line in lines]
    return (texts * (n // len(texts) + 1))[:n]


@pytest.fixture
def bert_run(toy_csv_task, tmp_path, tiny_bert):
    return toy_run(toy_csv_task, tmp_path / "runs", {"type": "transformer", "path": str(tiny_bert), "dropout": 0.1})


def test_hf_folder_loads_in_transformers_with_the_same_logits(bert_run, toy_csv_task, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    out = tmp_path / "hf"
    written = export_run(bert_run, "hf", out)
    assert [p.name for p in written] == ["toy_a", "toy_b"]
    run = load_run(bert_run)
    texts = texts_of(toy_csv_task)
    for task in ("toy_a", "toy_b"):
        folder = out / task
        assert {"config.json", "model.safetensors", "modeling_textmtl.py", "README.md"} <= {p.name for p in folder.iterdir()}
        model = AutoModelForSequenceClassification.from_pretrained(str(folder), trust_remote_code=True).eval()
        assert model.config.id2label == {0: "neg", 1: "pos"}
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        enc = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            theirs = model(**enc).logits
            ours = TaskGraph(run.model, task)(**example_inputs(run, texts))
        assert torch.allclose(theirs, ours, atol=1e-5), (theirs - ours).abs().max()
        classify = pipeline("text-classification", model=str(folder), trust_remote_code=True, device="cpu")
        got = [r["label"] for r in classify(texts[:20], truncation=True)]
        assert got == textmtl.predict(bert_run, task, texts[:20])


def test_hf_export_refuses_what_it_cannot_write(toy_csv_task, tmp_path, bert_run):
    cnn = toy_run(toy_csv_task, tmp_path / "runs2", {"type": "textcnn", "embedding_dim": 8, "num_filters": 4,
                                                       "kernel_sizes": [2], "glove": False})
    code, printed = run_main(["export", str(cnn), "--format", "hf", "--out", str(tmp_path / "x")])
    assert code == 2 and "needs a transformer encoder (this run's is textcnn)" in printed
    assert len(printed.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()
    code, printed = run_main(["export", str(bert_run), "-f", "hf", "--out", str(tmp_path / "y"), "--task", "nope"])
    assert code == 2 and "no task 'nope'" in printed
    code, printed = run_main(["export", str(bert_run), "--format", "tflite", "--out", str(tmp_path / "y")])
    assert code == 2 and "unknown exporter 'tflite'" in printed
    (tmp_path / "z").mkdir()
    code, printed = run_main(["export", str(bert_run), "--format", "hf", "--out", str(tmp_path / "z")])
    assert code == 2 and "already exists" in printed
    code, printed = run_main(["export", str(tmp_path / "z"), "--format", "hf", "--out", str(tmp_path / "w")])
    assert code == 2 and "not a finished textmtl run" in printed


ENCODERS = {
    "textcnn": {"type": "textcnn", "embedding_dim": 16, "num_filters": 8, "kernel_sizes": [2, 3], "glove": False},
    "bilstm": {"type": "bilstm", "embedding_dim": 16, "hidden_size": 8, "glove": False},
}


def real_reviews(data_dir, n=100) -> list[str]:
    """The first `n` reviews of FDU-MTL's books test file (long, real text: lengths up to the maximum)."""
    lines = (data_dir / "fdu-mtl" / "books.task.test").read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.split("\t", 1)[1] for line in lines[:n]]


@pytest.mark.parametrize("encoder", ["textcnn", "bilstm", "transformer"])
def test_onnx_graph_gives_the_same_logits_as_torch(encoder, toy_csv_task, tmp_path, tiny_bert, data_dir):
    ort = pytest.importorskip("onnxruntime")
    settings = ENCODERS.get(encoder) or {"type": "transformer", "path": str(tiny_bert)}
    architecture = "shared_private" if encoder == "bilstm" else "hard"  # a model hf export cannot write
    run_path = toy_run(toy_csv_task, tmp_path / "runs", settings, architecture=architecture)
    result = CliRunner().invoke(app, ["export", str(run_path), "--format", "onnx", "--out", str(tmp_path / "onnx")])
    assert result.exit_code == 0, result.output
    run = load_run(run_path)
    texts = real_reviews(data_dir, 100)
    inputs = example_inputs(run, texts)
    for task in ("toy_a", "toy_b"):
        meta = json.loads((tmp_path / "onnx" / task / "textmtl.json").read_text())
        assert meta["labels"] == ["neg", "pos"] and meta["inputs"] == list(inputs)
        session = ort.InferenceSession(str(tmp_path / "onnx" / task / "model.onnx"))
        theirs = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
        with torch.no_grad():
            ours = TaskGraph(run.model, task)(**inputs).numpy()
        assert theirs.shape == (100, 2) and np.abs(theirs - ours).max() <= 1e-4
        one = {k: v[:1, : int(inputs["attention_mask"][0].sum())].numpy() for k, v in inputs.items()}  # other shape
        assert np.abs(session.run(None, one)[0] - ours[:1]).max() <= 1e-4

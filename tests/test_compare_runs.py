"""Runs given on the command line compared without a suite (`summarize RUN...`, `report RUN... --out`),
each task with its own main metric; and the metric fallback of `summarize --metric`."""

from __future__ import annotations

import json

import pytest

import textmtl

from ._cli import run_main


@pytest.fixture
def loose_runs(toy_csv_task, tmp_path):
    files = {s: str(toy_csv_task / f"{s}.csv") for s in ("train", "dev", "test")}
    tasks = [{"name": "toy_a", "files": files, "metrics": ["mcc", "accuracy"]}, {"name": "toy_b", "files": files}]
    runs = []
    for method in ("stl", "ls"):
        for seed in (1, 2):
            cfg = {"name": f"{method}-s{seed}", "seed": seed, "method": method,
                   "model": {"encoder": {"type": "textcnn", "embedding_dim": 8, "num_filters": 4, "kernel_sizes": [2],
                                         "glove": False}},
                   "data": {"benchmark": None, "custom_tasks": tasks},
                   "training": {"steps": 4, "batch_size": 8, "device": "cpu"},
                   "output": {"runs_dir": str(tmp_path / "runs")}}
            runs.append(textmtl.train(cfg, progress=False).path)
    return runs


def test_summarize_groups_plain_run_directories_by_method(loose_runs):
    code, printed = run_main(["summarize", *map(str, loose_runs)])
    assert code == 0, printed
    assert "stl (ours, n=2)" in printed and "ls (ours, n=2)" in printed
    assert "toy_a (mcc)" in printed  # its own main metric, not accuracy
    assert "Paired differences" in printed or "vs ls" in printed
    assert printed.count("| stl |") == 1  # the paired table is printed once


def test_summarize_a_metric_some_tasks_lack_falls_back_to_their_main_metric(loose_runs):
    code, printed = run_main(["summarize", *map(str, loose_runs), "--metric", "mcc"])
    assert code == 0, printed
    assert "toy_a (mcc)" in printed and "| toy_b |" in printed  # toy_b has no MCC: its accuracy
    code, printed = run_main(["summarize", *map(str, loose_runs), "--metric", "pearson"])
    assert code == 2 and "no task of group" in printed and "'pearson'" in printed


def test_report_compares_several_runs(loose_runs, tmp_path):
    code, printed = run_main(["report", *map(str, loose_runs), "--out", str(tmp_path / "cmp")])
    assert code == 0, printed
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert "runs compared" in page and "toy_a (mcc)" in page and "Paired differences to ls" in page
    assert (tmp_path / "cmp" / "scores.png").is_file() and (tmp_path / "cmp" / "dev.png").is_file()
    code, printed = run_main(["report", *map(str, loose_runs)])
    assert code == 2 and "needs --out" in printed


def test_the_report_of_an_stl_run_names_its_architecture(loose_runs, tmp_path):
    code, printed = run_main(["report", str(loose_runs[0]), "--out", str(tmp_path / "one")])
    assert code == 0, printed
    page = (tmp_path / "one" / "report.html").read_text()
    assert "one model per task" in page and "hard parameter sharing" not in page
    metrics = json.loads((loose_runs[0] / "metrics.json").read_text())
    assert metrics["main_metrics"]["toy_a"] == "mcc"
    assert "MCC" in page or "mcc" in page

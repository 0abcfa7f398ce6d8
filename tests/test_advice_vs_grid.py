"""benchmarks/advice_vs_grid.py: the advisor-vs-grid table (docs/RESULTS.md §16) reads a grid's
results.csv right: means over the seeds every method has, the best *multi-task* method (the advisor
never proposes `stl`), and the gaps of `ls`, the advice and `stl` to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._scripts import load_benchmark_script


@pytest.fixture(scope="module")
def script():
    return load_benchmark_script("advice_vs_grid")


def _csv(path: Path, rows: list[tuple[str, int, str, float]]) -> Path:
    lines = ["suite,variant,method,seed,task,metric,dev,test,wall_seconds,steps,run_dir"]
    lines += [f"s,v,{m},{seed},{task},accuracy,,{test},1,1,runs/{m}-s{seed}" for m, seed, task, test in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_means_use_only_the_seeds_every_method_has(script, tmp_path):
    rows = [
        ("ls", 1, "a", 0.80), ("ls", 1, "b", 0.90), ("ls", 2, "a", 0.70), ("ls", 2, "b", 0.80),
        ("stl", 1, "a", 0.90), ("stl", 1, "b", 1.00), ("stl", 2, "a", 0.80), ("stl", 2, "b", 0.90),
        ("stl", 3, "a", 0.00), ("stl", 3, "b", 0.00),  # seed 3: stl only, so left out of every mean
    ]  # fmt: skip
    means = script._grid_means(_csv(tmp_path / "r.csv", rows), None)
    assert means == pytest.approx({"ls": 80.0, "stl": 90.0})


def test_the_best_is_the_best_multi_task_method_even_when_stl_wins(script):
    row = script.grid_gaps({"stl": 90.0, "ls": 85.0, "cagrad": 86.5, "mgda": 84.0}, "mgda")
    assert row["best"] == "cagrad" and row["best_score"] == 86.5 and row["methods"] == 3
    assert row["ls"] == pytest.approx(-1.5) and row["advice"] == pytest.approx(-2.5)
    assert row["stl"] == pytest.approx(3.5)  # positive: each task alone beat every multi-task method


def test_methods_missing_from_the_grid_have_no_gap(script):
    row = script.grid_gaps({"ls": 85.0, "uw": 85.5}, "getmtl")
    assert row["best"] == "uw" and row["advice"] is None and row["stl"] is None
    assert row["ls"] == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="no multi-task method"):
        script.grid_gaps({"stl": 80.0}, "ls")

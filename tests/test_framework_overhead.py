"""benchmarks/framework_overhead.py (docs/RESULTS.md §15): it steps one trainer per method (and a
repeated `ls`) of the grid's structure with a narrow BERT, round-robin, and writes one JSON row per
trainer. The timings are the benchmark's business; the test checks the run and the file."""

from __future__ import annotations

import json
import math

import pytest

from ._scripts import load_benchmark_script


@pytest.mark.slow
def test_it_writes_a_row_per_trainer_with_a_sample_per_round(data_dir, tmp_path):
    script = load_benchmark_script("framework_overhead")
    out = tmp_path / "overhead.json"
    argv = ["--methods", "ls,cagrad", "--rounds", "2", "--steps", "1", "--data-dir", str(data_dir), "--out", str(out)]
    assert script.main(argv) == 0
    result = json.loads(out.read_text())
    assert list(result["rows"]) == ["ls", "ls_repeat", "cagrad"] and result["setup"]["rounds"] == 2
    assert result["rows"]["ls"]["x_ls"] == 1.0
    for row in result["rows"].values():
        assert len(row["samples_ms"]) == 2 and math.isfinite(row["ms_per_step"]) and row["ms_per_step"] > 0

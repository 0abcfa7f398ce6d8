"""benchmarks/framework_overhead.py (docs/RESULTS.md §15): it trains the grid's structure with a
narrow BERT twice per method and writes one JSON row per method. The timings are the benchmark's
business; the test checks the run and the file."""

from __future__ import annotations

import json
import math

import pytest

from ._scripts import load_benchmark_script


@pytest.mark.slow
def test_it_writes_a_row_per_method_with_both_wall_times(data_dir, tmp_path):
    script = load_benchmark_script("framework_overhead")
    out = tmp_path / "overhead.json"
    assert script.main(["--methods", "ls", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["rows"]) == {"ls"} and result["setup"]["steps"] == [5, 45]
    row = result["rows"]["ls"]
    assert set(row["wall_seconds"]) == {"5", "45"} and math.isfinite(row["ms_per_step"])

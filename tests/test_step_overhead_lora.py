"""benchmarks/step_overhead.py's `lora` scenario (issue 19) runs at smoke-test size and writes its
rows (ls, the repeated ls, every `parameters`-back-end method) and its two targets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_lora_scenario_runs_and_reports_its_targets(tmp_path):
    out = tmp_path / "so.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_overhead.py"), "--quick", "--scenarios",
                           "lora", "--rounds", "1", "--threads", "1", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    scenario = result["scenarios"]["lora_minilm"]
    methods = {(r["method"], r["backend"]) for r in scenario["rows"]}
    assert {("ls", "loss"), ("ls_repeat", "loss"), ("cagrad", "parameters"), ("nash_mtl", "parameters")} <= methods
    assert all(r["error"] is None and r["median_ms"] > 0 for r in scenario["rows"])
    assert scenario["parameters"]["frozen"] > scenario["parameters"]["shared_trainable"] > 0
    names = [t["name"] for t in result["targets"]]
    assert any("lora_minilm: every parameters-back-end method" in n for n in names)
    assert any("lora_minilm: peak memory" in n for n in names)

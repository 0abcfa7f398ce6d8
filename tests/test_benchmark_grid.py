"""`textmtl benchmark`: the grid runner on a tiny suite (toy CSV tasks, a few steps)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from textmtl.benchmarking import plan_runs, resolve_suite, run_benchmark
from textmtl.benchmarking.runner import available_cores
from textmtl.data.sets import AMAZON_14, FDU_MTL_DOMAINS
from textmtl.reporting.grid_metrics import delta_m
from textmtl.reporting.grid_summary import RESULT_COLUMNS, read_results_csv


def write_suite(folder: Path, steps: int = 4, training: dict | None = None, **extra) -> Path:
    files = {"train": "train.csv", "dev": "dev.csv", "test": "test.csv"}  # relative to the suite file
    suite = {
        "name": "toy",
        "description": "two toy tasks",
        "base": {
            "data": {"benchmark": None, "custom_tasks": [{"name": "toy_a", "files": files, "labels": ["neg", "pos"]},
                                                         {"name": "toy_b", "files": files}]},
            "model": {"encoder": {"type": "textcnn", "glove": False, "embedding_dim": 8, "num_filters": 4,
                                  "kernel_sizes": [2]}},
            "training": {"steps": steps, "batch_size": 8, "lr": 0.01, "eval_every": steps, **(training or {})},
        },
        "methods": ["stl", "ls"],
        "seeds": [1, 2],
        "quick": {"overrides": {"training": {"steps": 2, "eval_every": 2}}, "methods": ["ls"], "seeds": [1]},
        **extra,
    }
    path = folder / "toy-suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run `textmtl ARGS` in this process (faster than a subprocess): (exit code, stdout, stderr)."""
    from textmtl import cli as cli_module

    monkeypatch.setattr(sys, "argv", ["textmtl", *args])
    code = 0
    try:
        cli_module.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_grid_writes_results_and_summary(toy_csv_task):
    suite = resolve_suite(write_suite(toy_csv_task))
    report = run_benchmark(suite, out=toy_csv_task / "out", workers=0, command="textmtl benchmark toy")
    assert not report.failed and len(report.outcomes) == 4
    out = toy_csv_task / "out"
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["ls-s1", "ls-s2", "stl-s1", "stl-s2"]
    with open(out / "results.csv") as fh:
        assert tuple(csv.DictReader(fh).fieldnames) == RESULT_COLUMNS
    rows = read_results_csv(out / "results.csv")
    assert len(rows) == 4 * 2  # one row per run and task
    assert {(r["method"], r["seed"], r["task"]) for r in rows} == {
        (m, s, t) for m in ("stl", "ls") for s in (1, 2) for t in ("toy_a", "toy_b")}
    assert all(r["metric"] == "accuracy" and 0 <= r["test"] <= 1 and r["run_dir"].startswith("runs/") for r in rows)
    md = (out / "summary.md").read_text()
    assert "# Benchmark `toy`" in md and "`textmtl benchmark toy`" in md and "torch" in md
    assert "| task | stl (ours, n=2) | ls (ours, n=2) |" in md
    # the Δm% row is the formula applied to the per-task means of results.csv
    mean = lambda m, t: sum(r["test"] for r in rows if r["method"] == m and r["task"] == t) / 2  # noqa: E731
    expected = delta_m({t: mean("ls", t) for t in ("toy_a", "toy_b")}, {t: mean("stl", t) for t in ("toy_a", "toy_b")})
    assert f"| Δm% vs stl | +0.00 | {expected:+.2f} |" in md
    assert "| mean rank |" in md and "| wall time per run |" in md
    # every run config is kept, with the toy files resolved next to the suite file
    cfg = yaml.safe_load((out / "configs" / "ls-s2.yaml").read_text())
    assert cfg["seed"] == 2 and cfg["method"]["name"] == "ls"
    assert cfg["data"]["custom_tasks"][0]["files"]["train"] == str(toy_csv_task / "train.csv")


def test_filters_dry_run_and_quick(toy_csv_task, monkeypatch, capsys):
    suite_file = str(write_suite(toy_csv_task))
    out = str(toy_csv_task / "out")
    code, stdout, _ = cli(monkeypatch, capsys, "benchmark", suite_file, "--out", out, "--methods", "ls",
                          "--seeds", "2", "--workers", "0")
    assert code == 0
    assert sorted(p.name for p in (toy_csv_task / "out" / "runs").iterdir()) == ["ls-s2"]
    md = (toy_csv_task / "out" / "summary.md").read_text()
    assert "ls (ours, n=1)" in md and "Runs still missing: ls 1/2, stl 0/2" in md and "Δm% is omitted" in md
    code, stdout, _ = cli(monkeypatch, capsys, "benchmark", suite_file, "--out", out, "--dry-run")
    assert code == 0 and "ls-s2" in stdout and "done: skip" in stdout and stdout.count("to run") == 3
    assert "3 to train, 1 already done" in stdout
    # unknown names in filters: one line, exit 2
    code, _, stderr = cli(monkeypatch, capsys, "benchmark", suite_file, "--out", out, "--methods", "lss")
    assert code == 2 and "--methods: 'lss'" in stderr and "did you mean 'ls'" in stderr
    code, _, stderr = cli(monkeypatch, capsys, "benchmark", suite_file, "--seeds", "one")
    assert code == 2 and "--seeds" in stderr
    # --quick: the quick grid, into <suite>-quick/ by default
    monkeypatch.chdir(toy_csv_task)
    code, _, _ = cli(monkeypatch, capsys, "benchmark", suite_file, "--quick", "--workers", "0")
    assert code == 0
    quick_run = toy_csv_task / "runs" / "grids" / "toy-quick" / "runs" / "ls-s1"
    assert json.loads((quick_run / "metrics.json").read_text())["steps"] == 2


def test_seed_major_trains_whole_seeds_first(toy_csv_task):
    """`seed_major` (benchmarks/gpu_fdu_minilm.py under a time limit): every run of seed 1 before any
    of seed 2, the suite's method order kept within a seed; the default is the suite's order."""
    suite = resolve_suite(write_suite(toy_csv_task))
    report = run_benchmark(suite, out=toy_csv_task / "a", workers=0, dry_run=True)
    assert [r.name for r in report.planned] == ["stl-s1", "stl-s2", "ls-s1", "ls-s2"]
    report = run_benchmark(suite, out=toy_csv_task / "b", workers=0, seed_major=True)
    assert [o.run.name for o in report.outcomes] == ["stl-s1", "ls-s1", "stl-s2", "ls-s2"]


def test_resume_skips_finished_runs_and_redoes_partial_ones(toy_csv_task):
    suite = resolve_suite(write_suite(toy_csv_task))
    out = toy_csv_task / "out"
    run_benchmark(suite, out=out, workers=0, methods=["ls"], seeds=[1])
    finished = out / "runs" / "ls-s1" / "metrics.json"
    stamp = finished.stat().st_mtime_ns
    # a killed run leaves ls-s2.partial; a crash after the rename would leave a dir without metrics.json
    (out / "runs" / "ls-s2.partial").mkdir()
    (out / "runs" / "ls-s2.partial" / "history.jsonl").write_text('{"step": 1}\n')
    (out / "runs" / "stl-s1").mkdir()
    (out / "runs" / "stl-s1" / "config.yaml").write_text("junk: 1\n")
    report = run_benchmark(suite, out=out, workers=0)
    assert [r.name for r in report.skipped] == ["ls-s1"]
    assert sorted(o.run.name for o in report.outcomes) == ["ls-s2", "stl-s1", "stl-s2"]
    assert finished.stat().st_mtime_ns == stamp  # not retrained
    assert not (out / "runs" / "ls-s2.partial").exists()
    for name in ("ls-s2", "stl-s1", "stl-s2"):
        assert (out / "runs" / name / "metrics.json").is_file()
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["ls-s1", "ls-s2", "stl-s1", "stl-s2"]
    # everything done: nothing trained, the summary is rewritten from the finished runs
    again = run_benchmark(suite, out=out, workers=0)
    assert again.outcomes == [] and len(again.skipped) == 4 and again.stale == []
    assert len(read_results_csv(out / "results.csv")) == 8
    # a changed suite flags finished runs whose config differs (they are kept, not retrained)
    changed = resolve_suite(write_suite(toy_csv_task, steps=5))
    assert len(run_benchmark(changed, out=out, workers=0, dry_run=True).stale) == 4


def test_a_bundle_outlives_the_output_directory(toy_csv_task, monkeypatch, capsys):
    """--bundle: each finished run is added to the bundle as it finishes (and runs finished before
    it was named); a new output directory restores them as done, so only the rest is trained."""
    from textmtl.reporting import bundle

    monkeypatch.chdir(toy_csv_task)  # bundles keep paths under the working directory relative
    suite = resolve_suite(write_suite(toy_csv_task))
    packed = toy_csv_task / "evidence" / "runs.jsonl.gz"
    run_benchmark(suite, out="one", workers=0, methods=["stl"], seeds=[1])
    run_benchmark(suite, out="one", workers=0, methods=["ls"], seeds=[1], bundle=packed)
    assert bundle.names(packed) == ["ls-s1", "stl-s1"]
    dry = run_benchmark(suite, out="two", workers=0, dry_run=True, bundle=packed)
    assert sorted(r.name for r in dry.skipped) == ["ls-s1", "stl-s1"] and not Path("two").exists()
    (toy_csv_task / "two" / "runs" / "ls-s1.partial").mkdir(parents=True)  # a killed try of a bundled run
    code, _, stderr = cli(monkeypatch, capsys, "benchmark", str(suite.source), "--out", "two", "--workers", "0",
                          "--bundle", str(packed))
    assert code == 0 and "restored 2 finished run(s)" in stderr and "2 run(s) trained, 2 already done" in stderr
    runs = toy_csv_task / "two" / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["ls-s1", "ls-s2", "stl-s1", "stl-s2"]
    assert not (runs / "ls-s1" / "model.safetensors").exists()  # restored, not retrained
    one = json.loads((toy_csv_task / "one" / "runs" / "ls-s1" / "metrics.json").read_text())
    restored = json.loads((runs / "ls-s1" / "metrics.json").read_text())
    assert restored["tasks"] == one["tasks"] and restored["average"] == one["average"]
    assert bundle.names(packed) == ["ls-s1", "ls-s2", "stl-s1", "stl-s2"]
    assert len(read_results_csv(toy_csv_task / "two" / "results.csv")) == 8
    again = run_benchmark(suite, out="two", workers=0, bundle=packed)
    assert again.outcomes == [] and again.stale == []  # restored configs are the suite's
    (toy_csv_task / "bad.jsonl.gz").write_text("no")
    code, _, stderr = cli(monkeypatch, capsys, "benchmark", str(suite.source), "--out", "three", "--workers", "0",
                          "--bundle", "bad.jsonl.gz")
    assert code == 2 and "bad.jsonl.gz" in stderr and "not a run bundle" in stderr and not Path("three").exists()


def _same_result(a: Path, b: Path) -> bool:
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (a, b))
    for m in (ma, mb):
        m.pop("wall_seconds"), m["architecture"].pop("wall_seconds_per_step")
    wa, wb = (load_file(str(r / "model.safetensors")) for r in (a, b))
    return ma == mb and wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def kill_during_step_5(suite, out: Path, monkeypatch) -> None:
    """Run ls-s1 of `suite` in process and interrupt it (like Ctrl-C) during its 5th step."""
    from textmtl.benchmarking.runner import BenchmarkInterrupted
    from textmtl.training.trainer import Trainer

    original, calls = Trainer.step, {"n": 0}

    def step(self, n):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, n)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "step", step)
        with pytest.raises(BenchmarkInterrupted, match="continues them from their last checkpoint"):
            run_benchmark(suite, out=out, workers=0, methods=["ls"], seeds=[1])


@pytest.mark.parametrize("workers", [0, 1])
def test_a_killed_run_continues_from_its_checkpoint(toy_csv_task, monkeypatch, capsys, workers):
    # in-process runs keep this process's thread count and the worker uses cores // 1: make them
    # equal (else OMP_NUM_THREADS=1 in the caller's environment changes sums in their last bits)
    threads = torch.get_num_threads()
    torch.set_num_threads(available_cores())
    try:
        _killed_run_continues(toy_csv_task, monkeypatch, capsys, workers)
    finally:
        torch.set_num_threads(threads)


def _killed_run_continues(toy_csv_task, monkeypatch, capsys, workers) -> None:
    suite = resolve_suite(write_suite(toy_csv_task, steps=8, training={"checkpoint_every": 3}))
    reference = run_benchmark(suite, out=toy_csv_task / "reference", workers=0, methods=["ls"], seeds=[1])
    assert reference.outcomes[0].ok
    out = toy_csv_task / "out"
    kill_during_step_5(suite, out, monkeypatch)
    partial = out / "runs" / "ls-s1.partial"
    assert (partial / "checkpoint").is_dir()
    capsys.readouterr()
    code, stdout, _ = cli(monkeypatch, capsys, "benchmark", str(toy_csv_task / "toy-suite.yaml"), "--out", str(out),
                          "--methods", "ls", "--seeds", "1", "--dry-run")
    assert code == 0 and "partial: resume" in stdout
    report = run_benchmark(suite, out=out, workers=workers, methods=["ls"], seeds=[1])
    assert report.outcomes[0].ok and not partial.exists()
    run = out / "runs" / "ls-s1"
    steps = [json.loads(line)["step"] for line in (run / "history.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 8  # no step recorded twice
    assert _same_result(toy_csv_task / "reference" / "runs" / "ls-s1", run)
    if workers:
        log = (out / "logs" / "ls-s1.log").read_text()
        assert "--resume" in log and "training.num_threads=" in log
        # the resumed worker's thread count (the in-process attempt set none) is what config.yaml records
        assert yaml.safe_load((run / "config.yaml").read_text())["training"]["num_threads"] == available_cores()


def test_a_partial_run_with_another_config_is_redone(toy_csv_task, monkeypatch):
    out = toy_csv_task / "out"
    kill_during_step_5(resolve_suite(write_suite(toy_csv_task, steps=8, training={"checkpoint_every": 3})), out,
                       monkeypatch)
    assert (out / "runs" / "ls-s1.partial" / "checkpoint").is_dir()
    changed = resolve_suite(write_suite(toy_csv_task, steps=8, training={"checkpoint_every": 3, "lr": 0.02}))
    assert run_benchmark(changed, out=out, workers=0, methods=["ls"], seeds=[1]).outcomes[0].ok
    cfg = yaml.safe_load((out / "runs" / "ls-s1" / "config.yaml").read_text())
    assert cfg["training"]["lr"] == 0.02  # redone from scratch with the suite's config, not resumed


def test_a_failing_run_does_not_stop_the_grid(toy_csv_task, monkeypatch, capsys):
    missing = {"train": "nowhere.csv", "test": "test.csv"}
    broken = {"data": {"custom_tasks": [{"name": "toy_a", "files": missing}]}}
    suite_file = write_suite(toy_csv_task, variants={"ok": {}, "broken": broken})
    code, _, stderr = cli(monkeypatch, capsys, "benchmark", str(suite_file), "--out", str(toy_csv_task / "out"),
                          "--methods", "ls", "--seeds", "1", "--workers", "0")
    assert code == 1
    assert "1 run(s) trained, 0 already done, 1 failed" in stderr
    assert "failed: broken-ls-s1" in stderr and "nowhere.csv" in stderr
    assert (toy_csv_task / "out" / "runs" / "ok-ls-s1" / "metrics.json").is_file()
    assert not any(p.name.startswith("broken") for p in (toy_csv_task / "out" / "runs").iterdir())
    md = (toy_csv_task / "out" / "summary.md").read_text()
    assert "## Variant `ok`" in md and "## Variant `broken`" in md and "No finished runs yet." in md


def _pids_with(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and "train" in cmdline:
                pids.append(int(proc.name))
    return pids


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textmtl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_two_worker_processes(toy_csv_task):
    suite_file = write_suite(toy_csv_task)
    proc = run_cli("benchmark", str(suite_file), "--workers", "2", "--methods", "ls", "--out", "out",
                   cwd=toy_csv_task)
    assert proc.returncode == 0, proc.stderr
    out = toy_csv_task / "out"
    assert (out / "runs" / "ls-s1" / "metrics.json").is_file() and (out / "runs" / "ls-s2" / "metrics.json").is_file()
    for name in ("ls-s1", "ls-s2"):
        cfg = yaml.safe_load((out / "runs" / name / "config.yaml").read_text())
        assert cfg["training"]["num_threads"] == max(1, available_cores() // 2)
        assert "train" in (out / "logs" / f"{name}.log").read_text()
    assert "2 run(s) trained" in proc.stderr and "summary.md" in proc.stdout


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the worker")
def test_sigterm_stops_workers_and_the_next_run_redoes_them(toy_csv_task):
    suite_file = write_suite(toy_csv_task, steps=100000)  # would run for a long time
    out = toy_csv_task / "out"
    bench = subprocess.Popen([sys.executable, "-m", "textmtl", "benchmark", str(suite_file), "--workers", "1",
                              "--methods", "ls", "--seeds", "1", "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = out / "runs" / "ls-s1.partial"  # created when the data is loaded and training starts
    deadline = time.monotonic() + 120
    while not partial.is_dir() and time.monotonic() < deadline:
        assert bench.poll() is None, bench.communicate()
        time.sleep(0.1)
    assert partial.is_dir(), "the worker never started training"
    workers = _pids_with(str(out / "configs" / "ls-s1.yaml"))
    assert workers
    bench.send_signal(signal.SIGTERM)
    _, stderr = bench.communicate(timeout=60)
    assert bench.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM" in stderr and "ls-s1" in stderr and "Traceback" not in stderr
    for pid in workers:  # the worker is gone (not left as an orphan)
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert (out / "runs" / "ls-s1.partial").is_dir() and not (out / "runs" / "ls-s1").exists()
    # the next invocation redoes it
    report = run_benchmark(resolve_suite(write_suite(toy_csv_task)), out=out, workers=0, methods=["ls"], seeds=[1])
    assert [o.run.name for o in report.outcomes] == ["ls-s1"] and report.outcomes[0].ok
    assert not (out / "runs" / "ls-s1.partial").exists() and (out / "runs" / "ls-s1" / "metrics.json").is_file()


@pytest.mark.parametrize("patch, key", [
    ({"methodz": ["ls"]}, "unknown key 'methodz' (did you mean 'methods'?)"),
    ({"base": {"training": {"lerning_rate": 1}}}, "unknown key 'base.training.lerning_rate'"),
    ({"methods": ["ls", "lss"]}, "methods.1: method.name: unknown method 'lss'"),
    ({"seeds": []}, "seeds: List should have at least 1 item"),
    ({"variants": {"big": {"model": {"encoder": {"num_filterz": 3}}}}}, "unknown key 'variants.big.model.encoder"),
    ({"published": [{"table": "getmtl_table3", "columns": {"ls": "Uniformm"}}]},
     "published.0.columns.ls: 'Uniformm' is not a column of getmtl_table3"),
    ({"published": [{"table": "getmtl_table9"}]}, "published.0.table: no published table 'getmtl_table9'"),
    ({"quick": {"methods": ["cagrad"]}}, "quick.methods.0: 'cagrad' is not one of the suite's methods"),
    ({"base": {"seed": 3}}, "base.seed: not allowed in a suite"),
])
def test_bad_suite_yaml_is_one_line_exit_2(toy_csv_task, monkeypatch, capsys, patch, key):
    suite_file = write_suite(toy_csv_task)
    data = yaml.safe_load(suite_file.read_text())
    for k, v in patch.items():
        if k == "base":
            data["base"]["training"].update(v.get("training", {}))
            data["base"].update({kk: vv for kk, vv in v.items() if kk != "training"})
        else:
            data[k] = v
    suite_file.write_text(yaml.safe_dump(data))
    code, _, stderr = cli(monkeypatch, capsys, "benchmark", str(suite_file), "--out", str(toy_csv_task / "out"))
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "toy-suite.yaml" in lines[0] and key in lines[0], lines[0]
    assert not (toy_csv_task / "out").exists()


def test_unknown_suite_and_broken_yaml(toy_csv_task, monkeypatch, capsys):
    code, _, stderr = cli(monkeypatch, capsys, "benchmark", "amazon-41")
    assert code == 2 and "unknown suite 'amazon-41' (did you mean 'amazon-14'?)" in stderr
    (toy_csv_task / "broken.yaml").write_text("methods: [ls\n")
    code, _, stderr = cli(monkeypatch, capsys, "benchmark", str(toy_csv_task / "broken.yaml"))
    assert code == 2 and "invalid YAML" in stderr and len(stderr.strip().splitlines()) == 1


def test_shipped_suites(monkeypatch, capsys):
    code, stdout, _ = cli(monkeypatch, capsys, "benchmark", "--list")
    assert code == 0 and all(name in stdout for name in ("fdu-mtl-16", "amazon-14", "glue-small"))
    amazon = resolve_suite("amazon-14")
    planned, _ = plan_runs(amazon)
    assert len(planned) == 12 * 3 and {r.method for r in planned} >= {"stl", "ls", "getmtl", "nash_mtl", "famo", "emtl"}
    cfg = amazon.run_config("default", "getmtl", 1)
    assert sorted(cfg["data"]["tasks"]) == sorted(AMAZON_14) and cfg["data"]["merge_dev_into_train"] is True
    assert cfg["data"]["dev_size"] == 0 and cfg["method"] == {"name": "getmtl", "epsilon": 0.0075}
    assert cfg["model"]["encoder"]["kernel_sizes"] == [3, 5, 7] and cfg["training"]["lr"] == 0.001
    fdu = resolve_suite("fdu-mtl-16")
    planned, _ = plan_runs(fdu)
    assert len(planned) == 2 * 12 * 3 and planned[0].name == "textcnn-stl-s1"
    assert fdu.run_config("bilstm", "ls", 1)["model"]["encoder"]["type"] == "bilstm"
    assert fdu.run_config("bilstm", "ls", 1)["data"].get("tasks") in (None, list(FDU_MTL_DOMAINS))
    quick, _ = plan_runs(fdu, quick=True)
    assert [r.name for r in quick] == ["textcnn-stl-s1", "textcnn-ls-s1", "textcnn-pcgrad-s1"]
    glue = resolve_suite("glue-small")
    assert glue.run_config("default", "ls", 1)["data"]["tasks"] == ["CoLA", "SST-2", "MRPC", "STS-B", "RTE", "WNLI"]
    assert os.path.basename(amazon.source) == "amazon-14.yaml"


def test_the_minilm_suite_plans_full_and_lora_and_its_gpu_script_runs_on_the_cpu(data_dir, tmp_path):
    """fdu-mtl-16-minilm (issue 19): 2 variants x 5 methods x 3 seeds; the lora variant is the modular
    architecture on a frozen MiniLM. benchmarks/gpu_fdu_minilm.py with --device cpu --quick runs the
    suite's quick grid (4 runs on 3 real domains) and writes its JSON summary."""
    suite = resolve_suite("fdu-mtl-16-minilm")
    planned, _ = plan_runs(suite)
    assert len(planned) == 2 * 5 * 3 and {r.method for r in planned} == {"stl", "ls", "cagrad", "nash_mtl", "getmtl"}
    lora = suite.run_config("lora", "cagrad", 2)
    assert lora["model"]["architecture"] == "modular" and lora["model"]["modular"]["backbone"] == "frozen"
    assert lora["training"]["lr"] == 0.0005 and suite.run_config("full", "ls", 1)["model"]["architecture"] == "hard"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "TEXTMTL_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_fdu_minilm.py"), str(tmp_path), "--device",
                           "cpu", "--quick", "--workers", "0"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_fdu_minilm.json").read_text())
    assert set(result["results"]) == {"full", "lora"}
    assert result["complete"] is True and result["stopped_runs"] == []
    for variant in ("full", "lora"):
        assert set(result["results"][variant]) == {"ls", "cagrad"}
        assert all(0.0 <= r["test_average_mean"] <= 1.0 for r in result["results"][variant].values())
        assert all(set(r["test_average_per_seed"]) == {"1"} for r in result["results"][variant].values())
    # --time-limit: the grid is stopped, what finished is written, marked incomplete (exit code 3)
    stopped = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_fdu_minilm.py"), str(tmp_path / "cut"),
                              "--device", "cpu", "--quick", "--workers", "1", "--time-limit", "2"],
                             env=env, capture_output=True, text=True, timeout=900)
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    cut = json.loads((tmp_path / "cut" / "gpu_fdu_minilm.json").read_text())
    assert cut["complete"] is False and cut["stopped_runs"] == ["full-ls-s1"]


def test_the_gpu_script_runs_as_many_grid_runs_at_a_time_as_the_gpu_memory_holds(monkeypatch):
    """An uncapped run's step peaks at ~27 GB (RESULTS §15): the default is GPU memory // 32 GB, 1 to 8
    (8 at a time on an H200 would have run out of memory)."""
    import importlib.util
    from types import SimpleNamespace

    import torch

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_fdu_minilm.py"
    spec = importlib.util.spec_from_file_location("gpu_fdu_minilm", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.default_workers("cpu") == 1
    for total_bytes, expected in ((143_771 * 2**20, 4), (80 * 2**30, 2), (24 * 10**9, 1), (640 * 10**9, 8)):
        properties = SimpleNamespace(total_memory=total_bytes)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i, p=properties: p)
        assert script.default_workers("cuda") == expected and script.default_workers("cuda:0") == expected

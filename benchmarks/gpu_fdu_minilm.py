"""The whole `fdu-mtl-16-minilm` grid (issue 19) uncapped on one GPU, unattended.

The shipped suite is capped for a 2-core CPU (64 word pieces, one epoch). This script lifts the
caps to the protocol (256 word pieces, 3 epochs), trains on CUDA in bf16 autocast, runs several
grid workers side by side on the one GPU, seed by seed (all runs of seed 1 first), and writes:
    OUT/suite.yaml          the suite it ran (the shipped one with the caps lifted)
    OUT/grid/               every run, results.csv and summary.md (`textmtl benchmark` output)
    OUT/runs.jsonl.gz       every finished run's metrics and config, without weights (a bundle:
                            `textmtl summarize "name=OUT/runs.jsonl.gz:full-ls-s*"` reads it)
    OUT/gpu_fdu_minilm.json the per-variant, per-method test averages over the seeds, each seed's
                            value, wall time per run, the GPU's name, the versions and the command

    python benchmarks/gpu_fdu_minilm.py OUT [--workers N] [--time-limit 540]
    python benchmarks/gpu_fdu_minilm.py OUT --device cpu --quick     # the CPU-side smoke test

`--time-limit S` stops the grid after S seconds (the runs still going are killed) and writes the
JSON of what finished, marked `"complete": false`. Resumable: runs already in OUT/grid are kept (the
grid runner skips finished runs and continues killed ones from their last checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import yaml

UNCAPPED = {"text": {"max_length": 256}, "training": {"epochs": 3}}
# GPU memory of one uncapped multi-task step at its peak: 25.0 GB (`ls`) to 26.6 GB (`cagrad`,
# `nash_mtl`, `getmtl`), from the probe on an H200 in docs/RESULTS.md §15 (random weights, the grid's
# shapes); the default worker count leaves room beside each run
GB_PER_RUN = 32


def default_workers(device: str) -> int:
    """As many runs at a time as the GPU's memory holds (1 to 8); 1 on the CPU."""
    if not device.startswith("cuda"):
        return 1
    import torch

    index = int(device.partition(":")[2] or 0)
    total_gb = torch.cuda.get_device_properties(index).total_memory / 1e9
    return max(1, min(8, int(total_gb // GB_PER_RUN)))


def suite_file(out: Path, device: str, quick: bool, model_path: str | None = None) -> Path:
    text = resources.files("textmtl.resources.suites").joinpath("fdu-mtl-16-minilm.yaml").read_text(encoding="utf-8")
    suite = yaml.safe_load(text)
    base = suite["base"]
    if not quick:
        for section, values in UNCAPPED.items():
            base.setdefault(section, {}).update(values)
    base["training"]["device"] = device
    if model_path is not None:  # another copy of the same MiniLM folder (e.g. where the wheel is not installed)
        base["model"]["encoder"]["path"] = str(Path(model_path).resolve())
    if device.startswith("cuda"):
        base["training"]["precision"] = "bf16"
    suite["description"] = f"{suite['description']} [{'quick' if quick else 'uncapped'}, {device}]"
    path = out / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def summarize(grid: Path) -> dict:
    """Mean and sample std over seeds of each run's test average (metrics.json), per variant and method,
    with each seed's value and each run's wall time."""
    averages: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    per_seed: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    walls: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    runs = sorted((grid / "runs").iterdir()) if (grid / "runs").is_dir() else []
    for run in runs:
        metrics_file = run / "metrics.json"
        if not metrics_file.is_file():
            continue
        metrics = json.loads(metrics_file.read_text())
        variant, _, rest = run.name.partition("-")
        method, _, seed = rest.rpartition("-s")
        averages[variant][method].append(float(metrics["average"]["test"]))
        per_seed[variant][method][seed] = round(float(metrics["average"]["test"]), 4)
        walls[variant][method].append(float(metrics.get("wall_seconds") or 0.0))
    return {
        variant: {
            method: {
                "test_average_mean": round(statistics.mean(v), 4),
                "test_average_std": round(statistics.stdev(v), 4) if len(v) > 1 else None,
                "seeds": len(v),
                "test_average_per_seed": per_seed[variant][method],
                "wall_seconds_per_run": [round(w, 1) for w in walls[variant][method]],
            }
            for method, v in methods.items()
        }
        for variant, methods in averages.items()
    }


def versions() -> dict:
    import importlib.metadata as md

    found = {}
    for name in ("torch", "transformers", "peft", "tokenizers", "pydantic"):
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = None
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--workers", type=int, default=None, help=f"runs side by side (default: GPU memory / {GB_PER_RUN} GB, 1-8)"
    )
    parser.add_argument("--quick", action="store_true", help="the suite's quick grid (a smoke test)")
    parser.add_argument("--methods", default=None, help="comma-separated subset (default: the grid's)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model-path", default=None, help="the MiniLM folder (default: the wheel's)")
    parser.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    from textmtl.benchmarking import resolve_suite, run_benchmark
    from textmtl.benchmarking.workers import BenchmarkInterrupted

    args.out.mkdir(parents=True, exist_ok=True)
    gpu = None
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device visible to torch; use --device cpu for the smoke test", file=sys.stderr)
            return 2
        gpu = torch.cuda.get_device_name(0)
    if args.workers is None:
        args.workers = default_workers(args.device)
    # several runs share the GPU: let the caching allocator grow segments instead of fragmenting
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    started = time.perf_counter()
    suite = resolve_suite(suite_file(args.out, args.device, args.quick, args.model_path))
    command = "python benchmarks/gpu_fdu_minilm.py " + " ".join(sys.argv[1:] if argv is None else argv)
    timer = None
    if args.time_limit is not None:  # SIGTERM: the grid runner stops its workers and writes what finished
        timer = threading.Timer(args.time_limit, os.kill, (os.getpid(), signal.SIGTERM))
        timer.daemon = True
        timer.start()
    stopped: list[str] | None = None
    try:
        run_benchmark(
            suite,
            out=args.out / "grid",
            workers=args.workers,
            quick=args.quick,
            data_dir=args.data_dir,
            methods=args.methods.split(",") if args.methods else None,
            command=command,
            bundle=args.out / "runs.jsonl.gz",
            seed_major=True,
        )
    except BenchmarkInterrupted as stop:
        stopped = stop.stopped
    finally:
        if timer is not None:
            timer.cancel()
    result = {
        "benchmark": "gpu_fdu_minilm",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "device": args.device,
        "gpu": gpu,
        "versions": versions(),
        "settings": {
            "quick": args.quick,
            "uncapped": None if args.quick else UNCAPPED,
            "workers": args.workers,
            "precision": "bf16" if args.device.startswith("cuda") else "fp32",
            "model_path": args.model_path,
            "time_limit": args.time_limit,
        },
        "complete": stopped is None,
        "stopped_runs": stopped or [],
        "results": summarize(args.out / "grid"),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "gpu_fdu_minilm.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["results"], indent=2))
    return 0 if stopped is None else 3


if __name__ == "__main__":
    sys.exit(main())

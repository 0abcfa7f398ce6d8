"""The whole `fdu-mtl-16-minilm` grid (issue 19) uncapped on one GPU, unattended.

The shipped suite is capped for a 2-core CPU (64 word pieces, one epoch). This script lifts the
caps to the protocol (256 word pieces, 3 epochs), trains on CUDA in bf16 autocast, runs several
grid workers side by side on the one GPU, and writes:
    OUT/suite.yaml          the suite it ran (the shipped one with the caps lifted)
    OUT/grid/               every run, results.csv and summary.md (`textmtl benchmark` output)
    OUT/gpu_fdu_minilm.json the per-variant, per-method test averages over the seeds, wall time per
                            run, the GPU's name and the command

    python benchmarks/gpu_fdu_minilm.py OUT [--workers 4]
    python benchmarks/gpu_fdu_minilm.py OUT --device cpu --quick     # the CPU-side smoke test

Resumable: runs already in OUT/grid are kept (the grid runner skips finished runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import yaml

UNCAPPED = {"text": {"max_length": 256}, "training": {"epochs": 3}}


def suite_file(out: Path, device: str, quick: bool) -> Path:
    text = resources.files("textmtl.resources.suites").joinpath("fdu-mtl-16-minilm.yaml").read_text(encoding="utf-8")
    suite = yaml.safe_load(text)
    base = suite["base"]
    if not quick:
        for section, values in UNCAPPED.items():
            base.setdefault(section, {}).update(values)
    base["training"]["device"] = device
    if device.startswith("cuda"):
        base["training"]["precision"] = "bf16"
    suite["description"] = f"{suite['description']} [{'quick' if quick else 'uncapped'}, {device}]"
    path = out / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def summarize(grid: Path) -> dict:
    """Mean and sample std over seeds of each run's test average (metrics.json), per variant and method,
    with each run's wall time."""
    averages: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    walls: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    runs = sorted((grid / "runs").iterdir()) if (grid / "runs").is_dir() else []
    for run in runs:
        metrics_file = run / "metrics.json"
        if not metrics_file.is_file():
            continue
        metrics = json.loads(metrics_file.read_text())
        variant, _, rest = run.name.partition("-")
        method = rest.rsplit("-s", 1)[0]
        averages[variant][method].append(float(metrics["average"]["test"]))
        walls[variant][method].append(float(metrics.get("wall_seconds") or 0.0))
    return {
        variant: {
            method: {"test_average_mean": round(statistics.mean(v), 4),
                     "test_average_std": round(statistics.stdev(v), 4) if len(v) > 1 else None,
                     "seeds": len(v), "wall_seconds_per_run": [round(w, 1) for w in walls[variant][method]]}
            for method, v in methods.items()
        }
        for variant, methods in averages.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers", type=int, default=4, help="grid runs side by side on the device")
    parser.add_argument("--quick", action="store_true", help="the suite's quick grid (a smoke test)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    from textmtl.benchmarking import resolve_suite, run_benchmark

    args.out.mkdir(parents=True, exist_ok=True)
    gpu = None
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device visible to torch; use --device cpu for the smoke test", file=sys.stderr)
            return 2
        gpu = torch.cuda.get_device_name(0)
    started = time.perf_counter()
    suite = resolve_suite(suite_file(args.out, args.device, args.quick))
    command = "python benchmarks/gpu_fdu_minilm.py " + " ".join(sys.argv[1:] if argv is None else argv)
    run_benchmark(suite, out=args.out / "grid", workers=args.workers, quick=args.quick, data_dir=args.data_dir,
                  command=command)
    result = {
        "benchmark": "gpu_fdu_minilm",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "device": args.device,
        "gpu": gpu,
        "settings": {"quick": args.quick, "uncapped": None if args.quick else UNCAPPED, "workers": args.workers,
                     "precision": "bf16" if args.device.startswith("cuda") else "fp32"},
        "results": summarize(args.out / "grid"),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "gpu_fdu_minilm.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["results"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Evaluation time with 1 and 2 processes (sharded evaluation, issue 22): the three-task problem of
tests/_eval_worker.py (classification, regression, tagging; a BiLSTM; N examples per task), scored by
`Evaluator` under torchrun with one thread per process; median of the rounds inside each launch,
launches alternated.

    python benchmarks/sharded_eval.py --examples 3000 --rounds 5 --launches 3 --out benchmarks/results/sharded_eval.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def launch(nproc: int, examples: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                        str(ROOT / "tests" / "_eval_worker.py"), str(out), str(examples), str(rounds)],
                       env=env, check=True, capture_output=True, timeout=1800)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    seconds: dict[int, list[float]] = {1: [], 2: []}
    metrics: dict[int, dict] = {}
    for _ in range(args.launches):
        for nproc in (1, 2):
            result = launch(nproc, args.examples, args.rounds)
            seconds[nproc].append(result["seconds"])
            metrics[nproc] = result["metrics"]
    report = {
        "command": f"python benchmarks/sharded_eval.py --examples {args.examples} --rounds {args.rounds} "
        f"--launches {args.launches}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, one thread per process",
        "median_seconds": {str(k): statistics.median(v) for k, v in seconds.items()},
        "seconds_per_launch": {str(k): v for k, v in seconds.items()},
        "speed_up_2_over_1": statistics.median(seconds[1]) / statistics.median(seconds[2]),
        "metrics_equal": metrics[1] == metrics[2],
    }
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

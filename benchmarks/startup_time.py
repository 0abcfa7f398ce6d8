"""Start-up time of the CLI and of the package: `python -m textmtl --help` and `python -c "import textmtl"`.

Each command runs in a fresh interpreter, alternating between the trees given (e.g. the current
tree and an older checkout), `--rounds` times each; the medians are reported. Run on a quiet
machine:

    git worktree add /tmp/textmtl-before f13002a
    .venv/bin/python benchmarks/startup_time.py now=src before=/tmp/textmtl-before/src --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from textmtl.reporting.bundle import scrub_paths

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "startup_time.json"
COMMANDS = {"textmtl --help": ["-m", "textmtl", "--help"], "import textmtl": ["-c", "import textmtl"]}


def timed(src: Path, argv: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(src.resolve()), "PYTHONDONTWRITEBYTECODE": "0"}
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="LABEL=SRC_DIR (the folder holding the textmtl package)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    trees = {label: Path(path) for label, _, path in (t.partition("=") for t in args.trees)}
    for src in trees.values():  # compile the bytecode once, outside the timed runs
        for argv in COMMANDS.values():
            timed(src, argv)
    samples: dict[str, dict[str, list[float]]] = {c: {t: [] for t in trees} for c in COMMANDS}
    for _ in range(args.rounds):
        for command, argv in COMMANDS.items():
            for label, src in trees.items():  # alternate the trees within a round
                samples[command][label].append(timed(src, argv))
    result = {
        "benchmark": "startup_time",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "rounds": args.rounds,
        "trees": {label: str(src) for label, src in trees.items()},
        "median_seconds": {c: {t: round(statistics.median(v), 3) for t, v in s.items()} for c, s in samples.items()},
        "samples_seconds": {c: {t: [round(x, 3) for x in v] for t, v in s.items()} for c, s in samples.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(scrub_paths(json.dumps(result, indent=2)) + "\n")
    for command, medians in result["median_seconds"].items():
        print(f"{command:16} " + "  ".join(f"{t}: {m:.2f} s" for t, m in medians.items()))


if __name__ == "__main__":
    main()

"""DIAGNOSTIC, not a result: how much of the gap to GetMTL's Table 3 could checkpoint selection on
the TEST set explain? (docs/RESULTS.md, the amazon-14 section)

The amazon-14 suite tests the model after the last step (the protocol has no dev set). This writes
the suite's config for one method and seed with the 14 domains as custom tasks whose dev file IS
the test file, so the trainer scores the test set after every epoch (history.jsonl) and keeps the
epoch with the best test average: an oracle. The training itself is the suite's, step for step
(same data order, model and optimiser; the last epoch's scores equal the suite run's).
From the history it prints three test averages: last epoch, best epoch (one epoch for all tasks)
and best epoch per task (each task's own best), the most optimistic reading of a table.

    .venv/bin/python benchmarks/amazon14_oracle.py ls 1      # then getmtl 1; runs/amazon14-oracle/
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from textmtl.data.readers import read_text_file

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method")
    parser.add_argument("seed", type=int)
    parser.add_argument("--data-dir", default=os.environ.get("TEXTMTL_DATA_DIR"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "amazon14-oracle"))
    args = parser.parse_args()
    if not args.data_dir:
        sys.exit("give --data-dir or set TEXTMTL_DATA_DIR")
    out = Path(args.out)
    suite_config = ROOT / "runs" / "grids" / "amazon-14" / "configs" / f"{args.method}-s{args.seed}.yaml"
    if not suite_config.is_file():
        sys.exit(f"{suite_config}: not found (run `textmtl benchmark amazon-14 --dry-run` to write the configs)")
    cfg = yaml.safe_load(suite_config.read_text())
    utf8 = out / "data"
    utf8.mkdir(parents=True, exist_ok=True)
    tasks = []
    for task in cfg["data"]["tasks"]:
        files = {}
        for split, suffix in (("train", "train"), ("dev", "test"), ("test", "test")):
            source = Path(args.data_dir) / "fdu-mtl" / f"{task}.task.{suffix}"
            copy = utf8 / source.name
            if not copy.exists():  # a few FDU-MTL files are latin-1; the fdu-mtl loader reads them so
                copy.write_text(read_text_file(source, latin1_fallback=True), encoding="utf-8")
            files[split] = str(copy)
        tasks.append({"name": task, "format": "tsv", "has_header": False, "columns": {"label": 0, "text": 1},
                      "files": files})
    cfg["data"] = {"benchmark": None, "skip_bad_lines": True, "custom_tasks": tasks}
    cfg.pop("output", None)
    name = f"{args.method}-oracle-s{args.seed}"
    config_path = out / f"{name}.yaml"
    config_path.write_text("# DIAGNOSTIC ONLY (benchmarks/amazon14_oracle.py): the dev file is the test file.\n"
                           + yaml.safe_dump(cfg, sort_keys=False))
    run = out / name
    if not (run / "metrics.json").is_file():
        subprocess.run([sys.executable, "-m", "textmtl", "train", str(config_path), "--name", name,
                        "--runs-dir", str(out), "--quiet"], check=True)
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    names = list(history[0]["dev"])

    def score(record: dict, task: str) -> float:
        return record["dev"][task]["accuracy"]

    last = sum(score(history[-1], t) for t in names) / len(names)
    best_epoch = max(r["dev_average"] for r in history)
    per_task = sum(max(score(r, t) for r in history) for t in names) / len(names)
    print(f"{name}: test average, last epoch {100 * last:.2f}; best epoch {100 * best_epoch:.2f}; "
          f"best epoch per task {100 * per_task:.2f}  ({len(history)} epochs)")


if __name__ == "__main__":
    main()

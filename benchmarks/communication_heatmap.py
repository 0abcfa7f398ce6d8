"""The learned task-communication matrix of graph runs (docs/RESULTS.md), averaged over seeds.

Reads `architecture.test.communication` of each run's metrics.json (the matrix averaged over the
test inputs; see `graph_complete` / `graph_star`), averages the runs, writes the heatmap PNG and
prints, for each task, the task it reads most and least from, with the spread over the runs.

    .venv/bin/python benchmarks/communication_heatmap.py runs/fdu-mtl-textcnn-graph_complete-s* \
        --out docs/graph-complete-communication.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from textmtl.reporting.figures import heatmap, png


def load(run: Path) -> tuple[list[str], np.ndarray, str]:
    metrics = json.loads((run / "metrics.json").read_text())
    comm = ((metrics.get("architecture") or {}).get("test") or {}).get("communication")
    if not comm:
        sys.exit(f"{run}/metrics.json: no architecture.test.communication (not a graph run?)")
    return list(comm["tasks"]), np.asarray(comm["matrix"], dtype=float), comm.get("architecture", "graph")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    loaded = [load(r) for r in args.runs]
    tasks, arch = loaded[0][0], loaded[0][2]
    if any(t != tasks for t, _, _ in loaded):
        sys.exit("the runs have different task lists")
    stack = np.stack([m for _, m, _ in loaded])
    mean = stack.mean(0)
    title = f"{arch}: task communication, test inputs, mean of {len(loaded)} run(s)"
    shown = mean.copy()
    if np.allclose(np.diag(shown), 0):  # graph_complete: no message to itself (blank cells, not a colour)
        np.fill_diagonal(shown, np.nan)
    args.out.write_bytes(png(heatmap(shown, tasks, tasks, title, "attention weight", diverging=False,
                                     xlabel="sending task j", ylabel="receiving task k")))
    k = len(tasks)
    off = mean.copy()
    np.fill_diagonal(off, np.nan)
    print(f"{len(loaded)} run(s); uniform weight 1/(K-1) = {1 / (k - 1):.3f}; "
          f"off-diagonal range {np.nanmin(off):.3f}-{np.nanmax(off):.3f}")
    print("| receiving task | reads most from (mean, min-max over runs) | reads least from |")
    print("|---|---|---|")
    for i, t in enumerate(tasks):
        hi, lo = int(np.nanargmax(off[i])), int(np.nanargmin(off[i]))
        spread = lambda j: f"{mean[i, j]:.3f} ({stack[:, i, j].min():.3f}-{stack[:, i, j].max():.3f})"  # noqa: E731
        print(f"| {t} | {tasks[hi]} {spread(hi)} | {tasks[lo]} {spread(lo)} |")
    col = np.nanmean(off, axis=0)
    order = np.argsort(-col)
    print("most read (column mean): " + ", ".join(f"{tasks[j]} {col[j]:.3f}" for j in order[:3])
          + "; least read: " + ", ".join(f"{tasks[j]} {col[j]:.3f}" for j in order[-3:]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

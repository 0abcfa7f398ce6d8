"""The gradient geometry of the conflict suite along training (docs/RESULTS.md §16): from the gradient
diagnostics that gradient methods log at every evaluation (cosines and norms of the task gradients
on the shared parameters, `gradients` in history.jsonl) and the running training losses.

    .venv/bin/python benchmarks/conflict_geometry.py runs/grids/conflict/runs [METHOD]   # default mgda

Per variant and evaluation step, averaged over the seeds: the mean pairwise cosine, the most opposed
pair's cosine (which pair), the share of pairs below -0.1, the ratio of the largest to the smallest
gradient norm and of the largest to the smallest running training loss.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def main(runs_dir: str, method: str = "mgda") -> None:
    rows: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for history in sorted(Path(runs_dir).glob(f"*-{method}-s*/history.jsonl")):
        variant = history.parent.name.split(f"-{method}-")[0]
        for line in history.read_text().splitlines():
            record = json.loads(line)
            g = record.get("gradients")
            if not g:
                continue
            tasks, cos = g["tasks"], np.array(g["cosine"])
            i, j = np.triu_indices(len(tasks), k=1)
            pairs = cos[i, j]
            worst = int(np.argmin(pairs))
            norms = np.array([g["grad_norms"][t] for t in tasks])
            losses = np.array([v for v in record["train_loss"].values()])
            rows[(variant, record["step"])].append(
                {
                    "mean": float(pairs.mean()),
                    "worst": float(pairs[worst]),
                    "pair": f"{tasks[i[worst]]} / {tasks[j[worst]]}",
                    "share": float(np.mean(pairs < -0.1)),
                    "norm_ratio": float(norms.max() / max(norms.min(), 1e-30)),
                    "loss_ratio": float(losses.max() / max(losses.min(), 1e-30)),
                }
            )
    print(
        "| variant | step | seeds | mean cosine | most opposed pair: cosine (pair, seed 1) | pairs < -0.1 "
        "| grad-norm ratio | train-loss ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (variant, step), found in sorted(rows.items()):

        def avg(key: str, found: list[dict] = found) -> float:
            return statistics.fmean(r[key] for r in found)

        print(
            f"| {variant} | {step} | {len(found)} | {avg('mean'):+.3f} | {avg('worst'):+.2f} ({found[0]['pair']}) "
            f"| {100 * avg('share'):.0f}% | {avg('norm_ratio'):.1f}x | {avg('loss_ratio'):.1f}x |"
        )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(*sys.argv[1:3])

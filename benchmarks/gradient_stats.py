"""Gradient diagnostics of finished gradient-method runs, summarised over all their evaluations
(docs/RESULTS.md §11): pairwise cosine range, share of conflicting pairs, the largest distance of a
method weight from 1/K, and the range of ||g0|| (the norm of the mean task gradient, from the
cosines and norms: ||g0||^2 = (1/K^2) sum_ij n_i n_j cos_ij). The weight distance is comparable
only for methods whose logged weights sum to 1 (getmtl, mgda); nash_mtl's, pcgrad's or cagrad's
weights live on other scales.

    textmtl bundle unpack docs/evidence/amazon-14/runs.jsonl.gz runs/evidence/amazon-14
    .venv/bin/python benchmarks/gradient_stats.py runs/evidence/amazon-14/getmtl-s? \
        runs/evidence/amazon-14/mgda-s?
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(run_dirs: list[str]) -> None:
    if not run_dirs:
        sys.exit(__doc__)
    cosines, conflicting = [], []
    for run in run_dirs:
        records = [json.loads(line) for line in (Path(run) / "history.jsonl").read_text().splitlines()]
        diag = [r["gradients"] for r in records if r.get("gradients")]
        if not diag:
            print(f"{run}: no gradient diagnostics in history.jsonl")
            continue
        g0, weight_gap = [], 0.0
        for r in records:
            if r.get("weights"):
                k = len(r["weights"])
                weight_gap = max(weight_gap, *(abs(w - 1 / k) for w in r["weights"].values()))
        for g in diag:
            tasks, cos = g["tasks"], g["cosine"]
            norms = [g["grad_norms"][t] for t in tasks]
            k = len(tasks)
            cosines += [cos[i][j] for i in range(k) for j in range(i + 1, k)]
            conflicting.append(g["conflicting_pairs"])
            g0.append(sum(norms[i] * norms[j] * cos[i][j] for i in range(k) for j in range(k)) ** 0.5 / k)
        print(f"{run}: {len(diag)} evaluations; max |w - 1/K| {weight_gap:.4f}; ||g0|| {min(g0):.3f}-{max(g0):.3f}")
    if cosines:
        print(f"all runs: pairwise cosine in [{min(cosines):.3f}, {max(cosines):.3f}]; "
              f"conflicting pairs {100 * min(conflicting):.0f}-{100 * max(conflicting):.0f}% per evaluation")


if __name__ == "__main__":
    main(sys.argv[1:])

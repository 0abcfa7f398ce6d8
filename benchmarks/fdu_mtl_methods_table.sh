#!/usr/bin/env bash
# docs/RESULTS.md §3: the FDU-MTL method table (TextCNN, 3 seeds per method) from the archived runs
# in benchmarks/results/runs/ (benchmarks/fdu_mtl_methods.sh trains them, archive_runs.sh copies them).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=benchmarks/results/runs
groups=("ls=$runs/fdu-mtl-textcnn-s[123]")
for method in uw gradnorm famo mgda pcgrad cagrad nash_mtl getmtl emtl; do
  groups+=("$method=$runs/fdu-mtl-textcnn-$method-s[123]")
done
.venv/bin/textmtl summarize "${groups[@]}"

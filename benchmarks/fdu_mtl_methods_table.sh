#!/usr/bin/env bash
# docs/RESULTS.md §3: the FDU-MTL method table (TextCNN, 3 seeds per method) from the runs kept in the
# fdu-mtl-16 grid's bundle, docs/evidence/fdu-mtl-16/runs.jsonl.gz (benchmarks/fdu_mtl_methods.sh trains them).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=docs/evidence/fdu-mtl-16/runs.jsonl.gz
groups=("ls=$runs:textcnn-ls-s[123]")
for method in uw gradnorm famo mgda pcgrad cagrad nash_mtl getmtl emtl; do
  groups+=("$method=$runs:textcnn-$method-s[123]")
done
.venv/bin/textmtl summarize "${groups[@]}"

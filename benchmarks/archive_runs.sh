#!/usr/bin/env bash
# Copy the small, reviewable files of finished runs (metrics, resolved config, history, the model
# description model.json with the task specs; never weights) into benchmarks/results/runs/, where docs/RESULTS.md's tables are recomputed from:
#   bash benchmarks/archive_runs.sh runs/fdu-mtl-*
set -euo pipefail
cd "$(dirname "$0")/.."
for run in "$@"; do
  [ -f "$run/metrics.json" ] || { echo "skip $run (not finished)"; continue; }
  dest="benchmarks/results/runs/$(basename "$run")"
  mkdir -p "$dest"
  cp "$run/metrics.json" "$run/config.yaml" "$run/history.jsonl" "$dest/"
  if [ -f "$run/model.json" ]; then cp "$run/model.json" "$dest/"; fi
done

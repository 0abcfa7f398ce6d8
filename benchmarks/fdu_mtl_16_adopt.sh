#!/usr/bin/env bash
# Put the finished FDU-MTL TextCNN runs of docs/RESULTS.md §1 and §3 (runs/fdu-mtl-textcnn-[METHOD-]sN,
# trained by fdu_mtl_ls.sh and fdu_mtl_methods.sh) into the `fdu-mtl-16` benchmark grid under the
# grid's run names, so `textmtl benchmark fdu-mtl-16 --variants textcnn` trains only what is missing
# (stl, tchebycheff). The runner checks each adopted run's config against the suite's: a run trained
# with other settings is listed as "done (config differs from the suite now)" by --dry-run.
#   bash benchmarks/fdu_mtl_16_adopt.sh [OUT]      # OUT: the benchmark directory (default runs/grids/fdu-mtl-16)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/grids/fdu-mtl-16}
mkdir -p "$out/runs"
for run in runs/fdu-mtl-textcnn-s[0-9]* runs/fdu-mtl-textcnn-*-s[0-9]*; do
  [ -f "$run/metrics.json" ] || continue
  rest=${run#runs/fdu-mtl-textcnn-}               # s1 | getmtl-s1 | shared_private-s1 ...
  case $rest in s[0-9]*) rest=ls-$rest ;; esac
  method=${rest%-s*}
  case $method in shared_private|adversarial|mmoe|graph_complete|graph_star|hierarchical|mean) continue ;; esac
  dest="$out/runs/textcnn-$rest"
  [ -e "$dest" ] && continue
  cp -r "$run" "$dest"
  echo "adopted $run -> $dest"
done
.venv/bin/textmtl benchmark fdu-mtl-16 --out "$out" --variants textcnn --dry-run | tail -1

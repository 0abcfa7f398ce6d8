#!/usr/bin/env bash
# docs/RESULTS.md, gradient-method table: FDU-MTL (16 domains), TextCNN hard sharing, one method per
# run, seeds given as arguments (default 1 2 3). One thread per run: two chains fit on 2 cores, e.g.
#   bash benchmarks/fdu_mtl_methods.sh "getmtl mgda pcgrad cagrad emtl" 1 &
#   bash benchmarks/fdu_mtl_methods.sh "nash_mtl uw famo gradnorm" 1 &
# The `ls` rows are the runs of benchmarks/fdu_mtl_ls.sh. Finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
methods=${1:?usage: fdu_mtl_methods.sh "METHOD ..." [SEED ...]}
shift
seeds=${*:-1 2 3}
for seed in $seeds; do
  for method in $methods; do
    name="fdu-mtl-textcnn-$method-s$seed"
    [ -f "runs/$name/metrics.json" ] && continue
    rm -rf "runs/$name.partial"
    .venv/bin/textmtl train configs/fdu-mtl-textcnn.yaml --method "$method" --seed "$seed" --name "$name" --quiet
  done
done

#!/usr/bin/env bash
# docs/RESULTS.md, architecture table: FDU-MTL (16 domains), TextCNN encoder, `ls`, one architecture per
# run, seeds given as arguments (default 1 2 3). One thread per run: two chains fit on 2 cores, e.g.
#   bash benchmarks/fdu_mtl_architectures.sh "shared_private adversarial graph_star" 1 2 3 &
#   bash benchmarks/fdu_mtl_architectures.sh "mmoe graph_complete" 1 2 3 &
# The `hard` rows are the runs of benchmarks/fdu_mtl_ls.sh. Finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
architectures=${1:?usage: fdu_mtl_architectures.sh "ARCHITECTURE ..." [SEED ...]}
shift
seeds=${*:-1 2 3}
for seed in $seeds; do
  for arch in $architectures; do
    name="fdu-mtl-textcnn-$arch-s$seed"
    [ -f "runs/$name/metrics.json" ] && continue
    rm -rf "runs/$name.partial"
    .venv/bin/textmtl train configs/fdu-mtl-textcnn.yaml --set "model.architecture=$arch" --seed "$seed" \
      --name "$name" --quiet
  done
done

#!/usr/bin/env bash
# docs/RESULTS.md, architecture table: FDU-MTL (16 domains), TextCNN encoder, `ls`, one architecture per
# run, seeds given as arguments (default 1 2 3). One thread per run; two chains fit on 2 cores and
# share the work (a run being trained by one chain holds runs/<name>.lock and is skipped by the other):
#   bash benchmarks/fdu_mtl_architectures.sh "shared_private adversarial mmoe graph_complete graph_star" &
#   bash benchmarks/fdu_mtl_architectures.sh "graph_star graph_complete mmoe adversarial shared_private" 3 2 1 &
# METHOD=cagrad (environment; default ls) trains the architectures with another method, into
# runs/fdu-mtl-textcnn-<architecture>-<method>-s<seed>. The `hard` rows are the runs of
# benchmarks/fdu_mtl_ls.sh and fdu_mtl_methods.sh. UNLABELLED=1 (adversarial) also feeds the
# unlabelled reviews to the discriminator (data.unlabelled), into runs/...-<architecture>-unlabelled-s<seed>.
# Finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
architectures=${1:?usage: fdu_mtl_architectures.sh "ARCHITECTURE ..." [SEED ...]}
shift
seeds=${*:-1 2 3}
mkdir -p runs
for seed in $seeds; do
  for arch in $architectures; do
    method=${METHOD:-ls}
    name="fdu-mtl-textcnn-$arch-s$seed"
    [ "$method" = ls ] || name="fdu-mtl-textcnn-$arch-$method-s$seed"
    extra=()
    if [ -n "${UNLABELLED:-}" ]; then name="${name%-s$seed}-unlabelled-s$seed"; extra=(--set data.unlabelled=true); fi
    [ -f "runs/$name/metrics.json" ] && continue
    mkdir "runs/$name.lock" 2>/dev/null || continue
    rm -rf "runs/$name.partial"
    status=0
    .venv/bin/textmtl train configs/fdu-mtl-textcnn.yaml --set "model.architecture=$arch" --method "$method" --seed "$seed" \
      "${extra[@]}" --name "$name" --quiet || status=$?
    rmdir "runs/$name.lock"
    [ "$status" -eq 0 ] || exit "$status"
  done
done

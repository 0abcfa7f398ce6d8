#!/usr/bin/env bash
# docs/RESULTS.md, CoNLL-2003 table: POS, chunk and NER single-task (`stl`) against multi-task `ls` with
# hard sharing, hierarchical supervision (the config's default) and graph_star; 2-layer BiLSTM on GloVe 50d.
# Variants and seeds as arguments (default: all variants, seeds 1 2 3); one thread per run, e.g.
#   bash benchmarks/conll_architectures.sh "stl hard hierarchical graph_star" 1 2 3
# Finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
variants=${1:-stl hard hierarchical graph_star}
shift || true
seeds=${*:-1 2 3}
for seed in $seeds; do
  for variant in $variants; do
    case $variant in
      stl) args=(--method stl --set model.architecture=hard --set model.hierarchical=null) ;;
      hierarchical) args=() ;;
      hard|graph_star) args=(--set "model.architecture=$variant" --set model.hierarchical=null) ;;
      *) echo "unknown variant: $variant" >&2; exit 2 ;;
    esac
    name="conll2003-bilstm-$variant-s$seed"
    [ -f "runs/$name/metrics.json" ] && continue
    rm -rf "runs/$name.partial"
    .venv/bin/textmtl train configs/conll2003-bilstm.yaml "${args[@]}" --seed "$seed" --name "$name" --quiet
  done
done

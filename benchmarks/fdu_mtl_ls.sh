#!/usr/bin/env bash
# docs/RESULTS.md, table 1: hard sharing + linear scalarisation on FDU-MTL (16 domains), 3 seeds
# per encoder. Each run uses one thread, so the two encoders can run side by side on 2 cores:
#   bash benchmarks/fdu_mtl_ls.sh textcnn & bash benchmarks/fdu_mtl_ls.sh bilstm & wait
# then:  textmtl summarize 'TextCNN=runs/fdu-mtl-textcnn-s*' 'BiLSTM=runs/fdu-mtl-bilstm-s*' \
#          --published asp_mtl_table2:FS-MTL,SP-MTL,ASP-MTL
set -euo pipefail
cd "$(dirname "$0")/.."
encoder=${1:?usage: fdu_mtl_ls.sh textcnn|bilstm}
for seed in 1 2 3; do
  .venv/bin/textmtl train "configs/fdu-mtl-$encoder.yaml" --seed "$seed" --name "fdu-mtl-$encoder-s$seed" --quiet
done

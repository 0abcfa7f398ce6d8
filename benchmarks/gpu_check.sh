#!/usr/bin/env bash
# The GPU check of issue 22, ready to run on a machine with a CUDA GPU (about 10 minutes on one GPU):
#   bash benchmarks/gpu_check.sh OUT_DIR
# writes OUT_DIR/gpu_*.json (see benchmarks/gpu_check.py for the parts). Uses .venv/bin/python when
# present, else python3; the data folder comes from TEXTMTL_DATA_DIR (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}"
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export TEXTMTL_DATA_DIR="${TEXTMTL_DATA_DIR:-$(cd .. && pwd)/shared/data}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > /dev/null 2>&1 || echo "nvidia-smi not found"
timeout 600 "$PY" benchmarks/gpu_check.py "$OUT" --device cuda

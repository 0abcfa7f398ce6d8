#!/usr/bin/env bash
# docs/RESULTS.md, GradTS: for each main task × seed, `textmtl select --strategy trial` with the
# main-only, all-candidates and random-same-size baselines (every other task of the pool is a
# candidate), plus one exhaustive search over the subsets of <= 2 candidates (main task and seed of
# EXHAUSTIVE, default: the first main task, seed 1) to time against GradTS.
#
#   bash benchmarks/gradts_glue.sh [glue|fdu] [WORKER NWORKERS]
#
# Two workers share the 2 cores (one thread each) and split the jobs round-robin; they share the
# head-importance cache and the trained runs (a lock per cache entry: each task × seed is
# fine-tuned once), so run them side by side:
#   bash benchmarks/gradts_glue.sh glue 0 2 > gradts-glue-0.log 2>&1 &
#   bash benchmarks/gradts_glue.sh glue 1 2 > gradts-glue-1.log 2>&1 &
# Finished selections (selection.json present) and finished runs are skipped, so the script can be
# re-started after an interruption. Summary: python benchmarks/gradts_table.py benchmarks/results/gradts-glue
#
# Settings (environment): MAINS, SEEDS (default 1 2 3), POOL (the tasks), TRAIN_CAP / EVAL_CAP
# (examples per task in every training, default 500 / 300), IMP_CAP (examples per task for the
# importance fine-tuning and gradient pass, default 1000), EPOCHS (default 3), EXHAUSTIVE ("MAIN SEED",
# or "none").
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-glue}
worker=${2:-0}
workers=${3:-1}
case "$suite" in
  glue)
    pool=${POOL:-"CoLA SST-2 MRPC STS-B RTE WNLI"}
    mains=${MAINS:-"CoLA SST-2 MRPC RTE"} ;;
  fdu)
    pool=${POOL:-"books dvd electronics kitchen_housewares MR apparel camera_photo music"}
    mains=${MAINS:-"books electronics MR"} ;;
  *) echo "usage: gradts_glue.sh [glue|fdu] [WORKER NWORKERS]" >&2; exit 2 ;;
esac
seeds=${SEEDS:-"1 2 3"}
first_main=${mains%% *}
exhaustive=${EXHAUSTIVE:-"$first_main 1"}
textmtl=${TEXTMTL:-.venv/bin/textmtl}
work=runs/gradts-$suite
out=benchmarks/results/gradts-$suite
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

jobs=()
for seed in $seeds; do
  for main in $mains; do jobs+=("trial $main $seed"); done
done
[ "$exhaustive" != none ] && jobs+=("exhaustive $exhaustive")

i=0
for job in "${jobs[@]}"; do
  (( i++ % workers == worker )) || continue
  read -r kind main seed <<< "$job"
  candidates=$(tr ' ' '\n' <<< "$pool" | grep -vx "$main" | paste -sd, -)
  if [ "$kind" = trial ]; then
    name="$main-trial-s$seed"; extra=(--baselines main,all,random --then-train)
  else
    name="$main-exhaustive-s$seed"; extra=(--baselines main,exhaustive)
  fi
  [ -f "$out/$name/selection.json" ] && continue
  rm -rf "$out/$name.partial"
  echo "$(date -u +%FT%TZ) $name: candidates $candidates"
  "$textmtl" select --main "$main" --candidates "$candidates" --strategy trial "${extra[@]}" --seed "$seed" \
    --num-threads 1 --work-dir "$work" --out "$out/$name" \
    --importance-examples "${IMP_CAP:-1000}" --importance-epochs "${EPOCHS:-3}" \
    --set "data.max_train_examples=${TRAIN_CAP:-500}" --set "data.max_eval_examples=${EVAL_CAP:-300}" \
    --set "training.epochs=${EPOCHS:-3}"
done

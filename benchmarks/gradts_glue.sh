#!/usr/bin/env bash
# docs/RESULTS.md, GradTS: for each main task × seed, `textmtl select --strategy trial` with the
# main-only, all-candidates and random-same-size baselines (every other task of the pool is a
# candidate), plus one exhaustive search over the subsets of <= 2 candidates (main task and seed of
# EXHAUSTIVE, default: RTE seed 1 on GLUE, the first main task seed 1 on FDU-MTL) to time against
# GradTS. RTE: the GLUE main task whose trials moved most (CoLA, first in the list, stays at MCC ~0).
#
#   bash benchmarks/gradts_glue.sh [glue|fdu] [WORKER NWORKERS]
#
# Two workers share the 2 cores (one thread each) and split the jobs round-robin; they share the
# head-importance cache and the trained runs (a lock per cache entry: each task × seed is
# fine-tuned once), so run them side by side:
#   bash benchmarks/gradts_glue.sh glue 0 2 > gradts-glue-0.log 2>&1 &
#   bash benchmarks/gradts_glue.sh glue 1 2 > gradts-glue-1.log 2>&1 &
# Finished selections (selection.json present) and finished runs are skipped, so the script can be
# re-started after an interruption. Summary: python benchmarks/gradts_table.py runs/gradts-results-glue
# (the committed selections: python benchmarks/gradts_table.py docs/evidence/gradts-glue)
#
# Settings (environment): MAINS, SEEDS (default 1 2 3), POOL (the tasks), TRAIN_CAP / EVAL_CAP
# (examples per task in every training; GLUE 1000 / 300, FDU-MTL 400 / 200), IMP_CAP (examples per
# task for the importance fine-tuning and gradient pass; GLUE 500, FDU-MTL 300), EPOCHS (default 3),
# EXHAUSTIVE ("MAIN SEED", or "none"). FDU-MTL: 6 domains, 3 of them main tasks (5 candidates each).
#
# Cost (one thread per process). Smoke run (RTE <- WNLI, MRPC; importance 200 examples x 1 epoch,
# trials 128 train / 128 eval x 1 epoch) on a machine whose 2 cores were shared with 2 other
# trainings (the run got 62% of a core): 9 min 54 s in all; per task fine-tuning 27-93 s (13 steps)
# + importance 18-37 s (200 examples, one by one); each trial run 97-115 s, about half of it fixed
# cost (loading MiniLM, final dev+test evaluation, saving). Model for a free core: ~1.5 s per
# task-batch of 16 (the glue-small suite's measurement), so one run with n tasks ~ 30 + 117 n s and one
# task's importance ~ 230 s at the defaults. GLUE (4 mains x 3 seeds, 5 candidates each): importance
# 18 x 230 s ~ 1.2 h; trials + all + random ~ 2300 s per main and seed ~ 7.6 h; the exhaustive search
# (16 runs) ~ 1.5 h: ~ 10 h of CPU, ~ 5 h on 2 free cores (uncertain by +-50%; twice that if the
# cores are shared). FDU-MTL at its caps (3 mains, longer texts): about as long, ~ 5 h (a guess: not
# measured). FDU-MTL pilot (2026-11-22, one thread, both cores busy with 2 other runs): books alone
# at 400 training examples, 3 epochs (75 steps), reached dev 0.82 / test 0.86 in 245 s, so 400 / 200.
# Measured (2026-11-22, one thread, the other core busy): at caps 300 / 200 a trial job took 17-22
# min (importance of all 6 tasks 13 min, cached for the other main tasks of the same seed), but the
# models barely learned: MiniLM after 57 steps stayed at the majority class on MRPC (dev F1 0.813-
# 0.818 for every task set) and at MCC 0.09 on CoLA (lr 2e-4 instead of 5e-5: no better). At 1000
# training examples (189 steps) MRPC reached dev F1 0.836 / accuracy 0.753 (majority: 0.68), so the
# GLUE caps are 1000 / 300: about 3x the trial cost, ~4 h on 2 cores for the GLUE grid.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-glue}
worker=${2:-0}
workers=${3:-1}
case "$suite" in
  glue)
    pool=${POOL:-"CoLA SST-2 MRPC STS-B RTE WNLI"}
    mains=${MAINS:-"CoLA SST-2 MRPC RTE STS-B"}; default_exhaustive="RTE 1"
    train_cap=${TRAIN_CAP:-1000}; eval_cap=${EVAL_CAP:-300}; imp_cap=${IMP_CAP:-500} ;;
  fdu)  # reviews are 2-3x longer than GLUE sentences (truncated at 128 tokens): smaller caps
    pool=${POOL:-"books dvd electronics kitchen_housewares MR apparel"}
    mains=${MAINS:-"books electronics MR"}; default_exhaustive="books 1"
    train_cap=${TRAIN_CAP:-400}; eval_cap=${EVAL_CAP:-200}; imp_cap=${IMP_CAP:-300} ;;
  *) echo "usage: gradts_glue.sh [glue|fdu] [WORKER NWORKERS]" >&2; exit 2 ;;
esac
seeds=${SEEDS:-"1 2 3"}
exhaustive=${EXHAUSTIVE:-$default_exhaustive}
textmtl=${TEXTMTL:-.venv/bin/textmtl}
work=runs/gradts-$suite
out=${OUT:-runs/gradts-results-$suite}  # kept in docs/evidence/gradts-$suite/selections.jsonl.gz
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
    --num-threads 1 --work-dir "$work" --out "$out/$name" --drop-weights \
    --importance-examples "$imp_cap" --importance-epochs "${EPOCHS:-3}" \
    --set "data.max_train_examples=$train_cap" --set "data.max_eval_examples=$eval_cap" \
    --set "training.epochs=${EPOCHS:-3}"
done

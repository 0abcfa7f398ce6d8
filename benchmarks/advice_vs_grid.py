"""`textmtl advise` on every benchmark we have a grid for, next to the grid's best method
(docs/RESULTS.md §16, issue 21).

    TEXTMTL_DATA_DIR=../shared/data .venv/bin/python benchmarks/advice_vs_grid.py run      # resumable
    .venv/bin/python benchmarks/advice_vs_grid.py rules     # re-apply the current rules to the stored probes
    .venv/bin/python benchmarks/advice_vs_grid.py table                                     # Markdown

`run` advises on the config of each benchmark's `ls` run (seed 1), with the default budget of
`textmtl advise` (200 steps, probes every 25, 8 candidate methods; smaller for MiniLM, see
ADVICE_OPTIONS), one thread, and writes
benchmarks/results/advice/<benchmark>.json (a benchmark whose JSON exists is skipped). `rules`
recomputes each JSON's `geometry` summary and `recommendation` from its stored probes and costs
with the rules of the installed textmtl (the measurements are kept; `rules_reapplied` says when),
so a change of the rules needs no new run. `table` reads those and each grid's results.csv: the
grid's best multi-task method by mean task average over seeds (the advisor chooses among those), and
how far `ls`, the advised method and `stl` (each task alone) are from it (points x100; "-" where the
grid lacks the method).
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "advice"

# name -> (suite or config file, variant, grid results.csv relative to the repository, note)
BENCHMARKS: dict[str, tuple[str, str | None, str | None, str]] = {
    "fdu-mtl-16": ("fdu-mtl-16", "textcnn", "docs/evidence/fdu-mtl-16/results.csv", ""),
    "amazon-14": ("amazon-14", None, "docs/evidence/amazon-14/results.csv", ""),
    "conll2003": ("configs/conll2003-bilstm.yaml", None, None, "no method grid: RESULTS §7 compares architectures"),
    "topic-4": ("topic-4", None, "docs/evidence/topic-4/results.csv", ""),
    "conflict/flipped": ("conflict", "flipped", "docs/evidence/conflict/results.csv", ""),
    "conflict/scales": ("conflict", "scales", "docs/evidence/conflict/results.csv", ""),
    "conflict/sizes": ("conflict", "sizes", "docs/evidence/conflict/results.csv", ""),
    "fdu-mtl-16-minilm/full": ("fdu-mtl-16-minilm", "full", "docs/evidence/fdu-mtl-16-minilm/results.csv", ""),
    "fdu-mtl-16-minilm/lora": ("fdu-mtl-16-minilm", "lora", "docs/evidence/fdu-mtl-16-minilm/results.csv", ""),
}

# Budgets other than `textmtl advise`'s default, and why. A MiniLM step (256 reviews, one thread)
# takes ~15 s here, and the suite's whole run is 88 steps: the default 200 steps and 8 x 5 x 3 cost
# steps would outlast the training they advise on. Half an epoch of geometry (44 steps, a probe
# every 11) and one step per candidate and round, 3 rounds, keep each advice near 25 minutes.
ADVICE_OPTIONS: dict[str, dict[str, int]] = {
    name: {"steps": 44, "probe_every": 11, "cost_steps": 1, "cost_rounds": 3}
    for name in ("fdu-mtl-16-minilm/full", "fdu-mtl-16-minilm/lora")
}


def _config(source: str, variant: str | None) -> dict:
    if source.endswith(".yaml"):
        import yaml

        return yaml.safe_load((ROOT / source).read_text())
    from textmtl.benchmarking.plan import plan_runs
    from textmtl.benchmarking.suite import resolve_suite

    _, runs = plan_runs(resolve_suite(source), methods=["ls"], seeds=[1], variants=[variant] if variant else None)
    return runs[0].config


def run(names: list[str]) -> None:
    import torch

    from textmtl.advice.advisor import AdviceOptions, advise

    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names or list(BENCHMARKS):
        path = OUT / f"{name.replace('/', '-')}.json"
        if path.exists():
            print(f"{name}: done before ({path.relative_to(ROOT)})")
            continue
        source, variant, _, _ = BENCHMARKS[name]
        config = _config(source, variant)
        config.setdefault("training", {})["num_threads"] = 1
        start = time.perf_counter()
        options = AdviceOptions(**ADVICE_OPTIONS.get(name, {}))
        report = advise(config, options=options, on_progress=lambda text, n=name: print(f"{n}: {text}", flush=True))
        report["budget"] = ADVICE_OPTIONS.get(name, "default")
        report["benchmark"] = name
        report["wall_seconds"] = round(time.perf_counter() - start, 1)
        report["command"] = f"python benchmarks/advice_vs_grid.py run {name}"
        path.write_text(json.dumps(report, indent=1) + "\n")
        rec = report["recommendation"]
        print(f"{name}: {rec['method']} ({rec['rule']}) in {report['wall_seconds']} s -> {path.relative_to(ROOT)}")


def reapply_rules() -> None:
    import datetime

    import numpy as np

    from textmtl.advice.geometry import Probe
    from textmtl.advice.rules import recommend, summarise

    for path in sorted(OUT.glob("*.json")):
        report = json.loads(path.read_text())
        probes = [
            Probe(
                p["step"],
                p["tasks"],
                p["losses"],
                np.array(p["cosine"]),
                p["norms"],
                None if p["representation_cosine"] is None else np.array(p["representation_cosine"]),
            )
            for p in report["probes"]
        ]
        geometry = summarise(probes)
        with_rep = {k.split("@")[0] for k in report["costs"] if k.endswith("@representation")}
        report["geometry"] = geometry.to_dict()
        report["recommendation"] = recommend(geometry, report["costs"], report["data"]["sizes"], with_rep).to_dict()
        report["rules_reapplied"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        path.write_text(json.dumps(report, indent=1) + "\n")
        print(f"{path.name}: {report['recommendation']['method']} ({report['recommendation']['rule']})")


def _grid_means(csv_path: Path, variant: str | None) -> dict[str, float]:
    """Mean over seeds of each method's task average (test, x100), over the seeds every method has
    (amazon-14 has seeds 4-10 for six of its twelve methods: the others are compared on 1-3)."""
    per_run: dict[tuple[str, str], list[float]] = defaultdict(list)
    with csv_path.open() as fh:
        for row in csv.DictReader(fh):
            if variant and row["variant"] != variant:
                continue
            per_run[(row["method"], row["seed"])].append(float(row["test"]))
    seeds: dict[str, set[str]] = defaultdict(set)
    for method, seed in per_run:
        seeds[method].add(seed)
    common = set.intersection(*seeds.values()) if seeds else set()
    by_method: dict[str, list[float]] = defaultdict(list)
    for (method, seed), scores in per_run.items():
        if seed in common:
            by_method[method].append(100 * statistics.fmean(scores))
    return {m: statistics.fmean(v) for m, v in by_method.items()}


def grid_gaps(means: dict[str, float], advised: str) -> dict[str, object]:
    """The row of one grid: its best multi-task method (the advisor chooses among those; `stl` is
    not one) and how far `ls`, the advised method and `stl` (training each task alone) are from it.
    None where the grid lacks the method."""
    multi = {m: v for m, v in means.items() if m != "stl"}
    if not multi:
        raise ValueError("the grid has no multi-task method")
    top = max(multi, key=lambda m: multi[m])

    def gap(method: str) -> float | None:
        return means[method] - multi[top] if method in means else None

    return {"best": top, "best_score": multi[top], "methods": len(multi), "ls": gap("ls"), "advice": gap(advised),
            "stl": gap("stl")}  # fmt: skip


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def table() -> str:
    lines = [
        "| benchmark | advice (rule) | mean cosine / most opposed pair / loss ratio / norm ratio "
        "| best multi-task method | ls − best | advice − best | stl − best | advise wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, (_, variant, results, note) in BENCHMARKS.items():
        path = OUT / f"{name.replace('/', '-')}.json"
        if not path.exists():
            lines.append(f"| {name} | not run | | | | | | |")
            continue
        report = json.loads(path.read_text())
        rec, g = report["recommendation"], report["geometry"]
        advice = rec["method"] + (f"@{rec['backend']}" if rec["backend"] not in (None, "parameters") else "")
        geometry = (
            f"{g['mean_cosine']:+.3f} / {g['worst_pair_cosine']:+.2f} / {g['loss_ratio']:.1f}x / "
            f"{g['grad_norm_ratio']:.1f}x"
        )
        best, gaps = note or "-", "- | - | -"
        if results and (ROOT / results).exists():
            row = grid_gaps(_grid_means(ROOT / results, variant), rec["method"])
            best = f"{row['best']} {row['best_score']:.2f} (of {row['methods']})"
            gaps = " | ".join(_signed(row[k]) for k in ("ls", "advice", "stl"))  # type: ignore[arg-type]
        lines.append(f"| {name} | {advice} ({rec['rule']}) | {geometry} | {best} | {gaps} "
                     f"| {report['wall_seconds'] / 60:.1f} min |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "rules", "table"):
        sys.exit(__doc__)
    if sys.argv[1] == "run":
        run(sys.argv[2:])
    elif sys.argv[1] == "rules":
        reapply_rules()
    else:
        print(table())

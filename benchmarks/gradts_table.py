"""Markdown tables for docs/RESULTS.md from the `selection.json` files of benchmarks/gradts_glue.sh.

    python benchmarks/gradts_table.py docs/evidence/gradts-glue [--split test|dev] [--heatmap tau.png]

Per main task: mean ± std over seeds of the main task's metric for main-only, GradTS-trial (the
selected set), all candidates and a random set of the same size; the selected sets; the mean τ of
each candidate; and the compute time of GradTS (importance of every task + its trials) against
the exhaustive search over subsets of <= 2 candidates.
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import json
import statistics
from collections import defaultdict
from pathlib import Path


def mean_std(values: list[float], digits: int = 4) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def load_selections(source: Path) -> list[tuple[str, dict]]:
    """(directory name, selection.json) of every selection: a folder of `<name>/selection.json`, or the
    `selections.jsonl.gz` bundle that keeps them in docs/evidence/ (one `{"name", "selection"}` per line)."""
    if source.is_file() or (source / "selections.jsonl.gz").is_file():
        bundle = source if source.is_file() else source / "selections.jsonl.gz"
        with gzip.open(bundle, "rt", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        return sorted((r["name"], r["selection"]) for r in rows)
    return [(p.parent.name, json.loads(p.read_text())) for p in sorted(source.glob("*/selection.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--split", choices=("test", "dev"), default="test",
                        help="test: GLUE's dev.tsv (textmtl's test split); dev: the held-out part of train")
    parser.add_argument("--heatmap", type=Path, help="write the τ matrix averaged over the selections here (PNG)")
    args = parser.parse_args()
    selections = load_selections(args.folder)
    reports = [s for name, s in selections if fnmatch.fnmatch(name, "*-trial-s*")]
    exhaustive = [s for name, s in selections if fnmatch.fnmatch(name, "*-exhaustive-s*")]
    if not reports:
        raise SystemExit(f"{args.folder}: no */selection.json of trial selections")
    by_main: dict[str, list[dict]] = defaultdict(list)
    for r in reports:
        by_main[r["main"]].append(r)

    if args.heatmap is not None:
        write_mean_heatmap([*reports, *exhaustive], args.heatmap)
    split = args.split
    print("| main task (metric) | seeds | main only | GradTS-trial | all candidates | random (same size) |")
    print("|---|---|---|---|---|---|")
    for main, rs in by_main.items():
        def col(get, rs=rs) -> str:
            return mean_std([v for v in (get(r) for r in rs) if v is not None])
        print(f"| {main} ({rs[0]['main_metric']}) | {len(rs)} "
              f"| {col(lambda r: r['baselines']['main'][split])} "
              f"| {col(lambda r: r['then_train'][split])} "
              f"| {col(lambda r: r['baselines']['all'][split])} "
              f"| {col(lambda r: r['baselines']['random'][split])} |")
    print()
    print("| main task | seed | τ ranking (τ) | trials (dev score) | selected | random set |")
    print("|---|---|---|---|---|---|")
    for main, rs in by_main.items():
        for r in sorted(rs, key=lambda r: r["seed"]):
            ranking = ", ".join(f"{t} {r['taus'][t]:.2f}" for t in r["ranking"])
            trials = ", ".join(f"{len(t['aux'])}: {t['dev']:.3f}" for t in r.get("trials", []))
            print(f"| {main} | {r['seed']} | {ranking} | {trials} | {', '.join(r['selected']) or '(none)'} "
                  f"| {', '.join(r['baselines']['random']['aux']) or '(none)'} |")
    print()
    print_tau_stability(by_main)
    print()
    print("| main task | seed | GradTS: importance of all tasks (s) | GradTS: trials (s) | GradTS total (s) "
          "| exhaustive ≤ 2 (s, runs) | GradTS / exhaustive | GradTS set (dev) | exhaustive best (dev) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in exhaustive:
        c, ex = r["compute_seconds"], r["baselines"]["exhaustive"]
        chosen = next((t["dev"] for t in r.get("trials", []) if sorted(t["aux"]) == sorted(r["selected"])), None)
        print(f"| {r['main']} | {r['seed']} | {c['importance']:.0f} | {c['trials']:.0f} | {c['gradts_total']:.0f} "
              f"| {c['exhaustive']:.0f} ({len(ex['runs'])}) | {c['gradts_total'] / c['exhaustive']:.2f} "
              f"| {', '.join(r['selected']) or '(none)'} ({chosen if chosen is None else f'{chosen:.4f}'}) "
              f"| {', '.join(ex['best']) or '(none)'} ({ex['best_dev']:.4f}) |")


def print_tau_stability(by_main: dict[str, list[dict]]) -> None:
    """τ(main, candidate) as mean ± std over seeds: how stable the ranking GradTS acts on is."""
    candidates = sorted({c for rs in by_main.values() for r in rs for c in r["taus"]})
    print("| main task | seeds | " + " | ".join(f"τ with {c}" for c in candidates) + " |")
    print("|---|---|" + "---|" * len(candidates))
    for main, rs in by_main.items():
        cells = [mean_std([r["taus"][c] for r in rs if c in r["taus"]], digits=2) if c != main else "-"
                 for c in candidates]
        print(f"| {main} | {len(rs)} | " + " | ".join(cells) + " |")


def write_mean_heatmap(reports: list[dict], path: Path) -> None:
    """Mean τ over every selection (a pair of tasks counts wherever both appear)."""
    import numpy as np

    from textmtl.selection.pipeline import plot_heatmap

    names = sorted({t for r in reports for t in r["tau_matrix"]["tasks"]})
    total, count = np.zeros((len(names), len(names))), np.zeros((len(names), len(names)))
    seen = set()
    for r in reports:
        key = (r["seed"], tuple(sorted(r["tau_matrix"]["tasks"])))
        if key in seen:  # the same seed and tasks: the same cached matrices
            continue
        seen.add(key)
        idx = [names.index(t) for t in r["tau_matrix"]["tasks"]]
        total[np.ix_(idx, idx)] += np.array(r["tau_matrix"]["values"])
        count[np.ix_(idx, idx)] += 1
    mean = np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0)
    plot_heatmap(names, mean, path, title=f"Kendall τ of head importance, mean over {len(seen)} seed/task sets")
    print(f"heatmap: {path}\n")


if __name__ == "__main__":
    main()

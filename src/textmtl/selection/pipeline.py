"""`textmtl select`: GradTS from head importance to a trained main task, with its baselines.

Phases (each timed in `selection.json`):

1. **fine-tune + importance** per task (main and candidates), through the cache: a single-task
   run of the transformer through the normal trainer (`textmtl.train`, method `ls`), then one
   forward/backward pass per training example for the head matrices; the fine-tuned run is
   deleted afterwards (only the matrices are kept).
2. **correlation**: Kendall's τ between the flattened task matrices.
3. **selection** (`thres`, `trial`, `fg`); trials train main + auxiliaries through the normal
   trainer, and every finished run is kept under `<work-dir>/runs/` and re-used by any later
   selection asking for the same task set, seed and settings (main-only, all, random and
   exhaustive baselines included).

Scores: the main task's `dev` metric (GLUE: the held-out part of train.tsv) drives every choice;
`test` (GLUE: the official dev.tsv) is only reported.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TextmtlError
from ..files import atomic_write_json
from .baselines import exhaustive, random_same_size
from .correlation import instance_taus, tau_matrix
from .options import BASELINES, DEFAULT_BASE, SELECTION_FORMAT, STRATEGIES, RunRecord, SelectOptions, check_options
from .strategies import (
    rank_candidates,
    select_fg,
    select_thres,
    select_trial,
)
from .trials import Selection


def run_selection(opts: SelectOptions) -> tuple[Path, dict[str, Any]]:
    """Run GradTS (and the asked-for baselines); write `<out>/selection.json` and `tau_heatmap.png`
    atomically (`<out>.partial/` renamed when complete). Bad input raises before anything is written."""
    import torch

    benchmark, base, out = check_options(opts)
    if opts.num_threads:
        torch.set_num_threads(opts.num_threads)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        report = _run(opts, benchmark, base, partial)
        atomic_write_json(partial / "selection.json", report)
        plot_heatmap(
            report["tau_matrix"]["tasks"],
            np.array(report["tau_matrix"]["values"]),
            partial / "tau_heatmap.png",
            title=f"Kendall τ of head importance ({benchmark}, seed {opts.seed})",
        )
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out, report


def _run(opts: SelectOptions, benchmark: str, base: dict[str, Any], partial: Path) -> dict[str, Any]:
    sel = Selection(opts, benchmark, base)
    tasks = [opts.main, *opts.candidates]
    wall = time.perf_counter()

    start = time.perf_counter()
    importance = sel.importance(tasks)
    phase_importance = time.perf_counter() - start
    metas = {t: importance[t][1] for t in tasks}
    computed_now = [t for t in tasks if not importance[t][2]]
    seconds: dict[str, Any] = {
        "finetune": round(sum(metas[t]["seconds"]["finetune"] for t in computed_now), 3),
        "importance": round(sum(metas[t]["seconds"]["importance"] for t in computed_now), 3),
        "importance_phase_wall": round(phase_importance, 3),
    }

    start = time.perf_counter()
    names, taus_all = tau_matrix({t: importance[t][0].task for t in tasks})
    taus = {c: float(taus_all[0, names.index(c)]) for c in opts.candidates}
    seconds["correlation"] = round(time.perf_counter() - start, 6)

    report: dict[str, Any] = {
        "format": SELECTION_FORMAT,
        "main": opts.main,
        "candidates": opts.candidates,
        "benchmark": benchmark,
        "strategy": opts.strategy,
        "seed": opts.seed,
        "main_metric": sel.main_metric,
        "slicing": opts.slicing,
        "thresholds": {"task": opts.task_threshold, "instance": opts.instance_threshold},
        "importance_settings": {
            "examples": opts.importance_examples,
            "epochs": opts.importance_epochs,
            "batch_size": opts.importance_batch_size,
        },
        "taus": taus,
        "ranking": rank_candidates(taus),
        "tau_matrix": {"tasks": names, "values": np.round(taus_all, 6).tolist()},
        "head_importance": {t: np.round(importance[t][0].task, 6).tolist() for t in tasks},
        "cache": {
            "hits": sel.cache.hits,
            "misses": sel.cache.misses,
            "computed": computed_now,
            "entries": {t: str(sel.cache.entry_path(t, sel.importance_settings(t))) for t in tasks},
        },
    }

    start = time.perf_counter()
    final: RunRecord | None = None
    if opts.strategy == "thres":
        selected = select_thres(taus, opts.task_threshold)
    else:
        trial = select_trial(taus, sel.score)
        selected = trial.selected
        report["trials"] = [sel.run(t.aux).to_dict() | {"aux": t.aux} for t in trial.trials]
        report["trial_stopped_early"] = trial.stopped_early
        final = sel.run(selected)
    seconds["trials"] = round(time.perf_counter() - start, 3)
    report["selected"] = selected

    if opts.strategy == "fg":
        start = time.perf_counter()
        inst = {t: instance_taus(importance[opts.main][0].task, importance[t][0].instances) for t in selected}
        kept = select_fg(selected, inst, opts.instance_threshold)
        fg = sel.fg_data(selected, kept) if selected else None
        report["fg"] = {
            t: {
                "kept": len(kept[t]),
                "of": len(inst[t]),
                "tau_quantiles": np.round(np.quantile(inst[t], [0, 0.25, 0.5, 0.75, 1]), 4).tolist()
                if len(inst[t])
                else [],
            }
            for t in selected
        }
        final = sel.run(selected, fg) if fg is not None else sel.run([])
        report["fg_run"] = final.to_dict()
        seconds["fg"] = round(time.perf_counter() - start, 3)

    if opts.then_train:
        start = time.perf_counter()
        final = final or sel.run(selected)
        report["then_train"] = final.to_dict() | {"metric": sel.main_metric}
        seconds["then_train"] = round(time.perf_counter() - start, 3)

    baselines: dict[str, Any] = {}
    for name in opts.baselines:
        start = time.perf_counter()
        if name == "main":
            baselines["main"] = sel.run([]).to_dict()
        elif name == "all":
            baselines["all"] = sel.run(list(opts.candidates)).to_dict()
        elif name == "random":
            baselines["random"] = sel.run(random_same_size(opts.candidates, len(selected), opts.seed)).to_dict()
        else:
            result = exhaustive(opts.candidates, sel.score, opts.max_subset_size)
            baselines["exhaustive"] = {
                "max_subset_size": opts.max_subset_size,
                "best": result.best,
                "best_dev": result.best_score,
                "runs": [sel.run(aux).to_dict() for aux, _ in result.scores],
                "compute_seconds": round(sum(sel.run(aux).seconds for aux, _ in result.scores), 2),
            }
        seconds[f"baseline_{name}"] = round(time.perf_counter() - start, 3)
    report["baselines"] = baselines
    seconds["total"] = round(time.perf_counter() - wall, 3)
    report["seconds"] = seconds

    # what GradTS costs without any cache (every task's fine-tuning and importance, the trials)
    trial_runs = {r["run"]: r["seconds"] for r in report.get("trials", [])}
    if "fg_run" in report:
        trial_runs[report["fg_run"]["run"]] = report["fg_run"]["seconds"]
    if opts.strategy == "thres" and "then_train" in report:
        trial_runs[report["then_train"]["run"]] = report["then_train"]["seconds"]
    per_task = {t: round(metas[t]["seconds"]["finetune"] + metas[t]["seconds"]["importance"], 2) for t in tasks}
    report["compute_seconds"] = {
        "importance_per_task": per_task,
        "importance": round(sum(per_task.values()), 2),
        "trials": round(sum(trial_runs.values()), 2),
        "gradts_total": round(sum(per_task.values()) + sum(trial_runs.values()), 2),
    }
    if "exhaustive" in baselines:
        report["compute_seconds"]["exhaustive"] = baselines["exhaustive"]["compute_seconds"]
    report["cache"]["hits"], report["cache"]["misses"] = sel.cache.hits, sel.cache.misses
    return report


def plot_heatmap(names: list[str], values: np.ndarray, path: Path, title: str = "") -> None:
    """The task × task τ matrix as an annotated heatmap (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * n, 0.6 + 0.65 * n), dpi=120)
    try:
        image = ax.imshow(values, cmap="viridis", vmin=min(0.0, float(values.min())), vmax=1.0)
        ax.set_xticks(range(n), names, rotation=45, ha="right")
        ax.set_yticks(range(n), names)
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if values[i, j] < 0.6 else "black",
                )
        if title:
            ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


__all__ = ["BASELINES", "DEFAULT_BASE", "STRATEGIES", "SelectOptions", "TextmtlError", "run_selection"]

"""Aggregate finished runs (one per seed) into per-task mean ± std tables."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .published import PublishedTable


@dataclass
class GroupSummary:
    """Runs of one configuration over several seeds."""

    label: str
    seeds: list[int]
    per_task: dict[str, tuple[float, float]]  # task -> (mean, std) of the tabulated test metric
    average: tuple[float, float]  # mean, std over seeds of the task average
    wall_seconds: float  # mean per run
    metrics: dict[str, str] = field(default_factory=dict)  # task -> the metric tabulated for it
    runs: dict[int, dict[str, float]] = field(default_factory=dict)  # seed -> task -> score (paired tests)


def read_metrics(run_dir: Path) -> dict:
    path = Path(run_dir) / "metrics.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "not found; expected a finished run directory") from None
    except ValueError as exc:
        raise DataError(path, f"invalid JSON ({exc})") from None


MAIN = "main"  # tabulate each task's own main metric (the one its run averaged)


def main_metrics(run_dir: Path, run: dict) -> dict[str, str]:
    """Task -> main metric of a finished run: from metrics.json, else (older runs) from model.json's task
    specs, else (archived runs without weights) accuracy for every task."""
    if "main_metrics" in run:
        return run["main_metrics"]
    try:
        specs = json.loads((Path(run_dir) / "model.json").read_text())["tasks"]
        return {d["name"]: d["metrics"][0] for d in specs if d.get("metrics")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def summarize(label: str, run_dirs: list[Path], metric: str = MAIN, split: str = "test") -> GroupSummary:
    """Mean ± sample std over the runs (seeds) of each task's `split` score and of the task average.
    `metric`: each task's main metric, or a named one for the tasks that have it (the others keep
    their main metric; `GroupSummary.metrics` says which each task shows)."""
    runs = [read_metrics(d) for d in run_dirs]
    values: dict[str, list[float]] = defaultdict(list)
    names: dict[str, str] = {}
    by_seed: dict[int, dict[str, float]] = {}
    averages: list[float] = []
    for d, m in zip(run_dirs, runs):
        main = main_metrics(d, m)
        for task, scores in m["tasks"].items():
            # a named metric where the task has it (mcc for CoLA), else the task's own main metric
            name = metric if metric != MAIN and metric in scores[split] else main.get(task, "accuracy")
            if names.setdefault(task, name) != name:
                raise DataError(
                    Path(d) / "metrics.json",
                    f"task {task!r} is scored by {name}, other runs of group {label!r} by {names[task]}",
                )
            if name not in scores[split]:
                raise DataError(
                    Path(d) / "metrics.json",
                    f"task {task!r} has no {split} metric {name!r} (it has: {', '.join(scores[split]) or 'none'})",
                )
            values[task].append(scores[split][name])
            by_seed.setdefault(int(m["seed"]), {})[task] = float(scores[split][name])
        tabulated = [scores[split][names[t]] for t, scores in m["tasks"].items()]
        averages.append(m["average"][split] if metric == MAIN else float(np.mean(tabulated)))
    if metric != MAIN and not any(n == metric for n in names.values()):
        raise DataError(
            Path(run_dirs[0]) / "metrics.json", f"no task of group {label!r} has a {split} metric {metric!r}"
        )
    std = lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0  # noqa: E731
    return GroupSummary(
        label,
        [m["seed"] for m in runs],
        {t: (float(np.mean(v)), std(v)) for t, v in values.items()},
        (float(np.mean(averages)), std(averages)),
        float(np.mean([m["wall_seconds"] for m in runs])),
        names,
        by_seed,
    )


def significance_table(groups: list[GroupSummary], baseline: str) -> str:
    """Every group's paired difference to the group labelled `baseline` (runs paired by seed, and by
    seed x task), as Markdown (see `significance`); lower-is-better metrics enter with their sign flipped."""
    from .grid_metrics import is_lower_better
    from .significance import multiplicity_note, paired_rows

    ref = next((g for g in groups if g.label == baseline), None)
    if ref is None:
        labels = ", ".join(g.label for g in groups)
        raise ConfigError(f"--baseline: no group labelled {baseline!r} (groups: {labels})")
    tasks = list(ref.per_task)
    lower = {t: is_lower_better(ref.metrics.get(t, "accuracy")) for t in tasks}
    rows = paired_rows({g.label: g.runs for g in groups}, baseline, tasks, lower)
    lines = [
        f"Paired differences to `{baseline}` (×100; positive = better), 95% confidence interval (Student's t), "
        "paired t-test; runs paired by seed:",
        "",
        "| group | task average, paired by seed | tasks, paired by seed × task | verdict (per seed) |",
        "|---|---|---|---|",
    ]
    for g in groups:
        if g.label not in rows:
            continue
        per_seed, per_task = rows[g.label]
        verdict = (
            "too few paired seeds"
            if per_seed.n < 2
            else ("better" if per_seed.mean > 0 else "worse")
            if per_seed.distinguishable
            else "not distinguishable"
        )
        lines.append(f"| {g.label} | {per_seed.cell()} | {per_task.cell()} | {verdict} |")
    note = multiplicity_note({label: pair[0] for label, pair in rows.items()})
    return "\n".join([*lines, "", note] if note else lines)


def markdown_table(
    groups: list[GroupSummary], published: PublishedTable | None = None, published_columns: tuple[str, ...] = ()
) -> str:
    """Scores (%) per task: ours as mean ± std over seeds, published columns clearly labelled.

    A task scored by something other than accuracy names its metric, e.g. `ner (entity_f1)`.
    """
    tasks = list(groups[0].per_task)
    metric_of = {t: g.metrics.get(t, "accuracy") for g in reversed(groups) for t in g.per_task}
    head = (
        ["task"]
        + [f"{g.label} (ours, n={len(g.seeds)})" for g in groups]
        + [f"{c} (published)" for c in published_columns]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    pub = {c: published.accuracy(c) for c in published_columns} if published else {}
    for t in tasks:
        name = t if metric_of.get(t, "accuracy") == "accuracy" else f"{t} ({metric_of[t]})"
        cells = (
            [name] + [_pm(g.per_task.get(t)) for g in groups] + [f"{100 * pub[c][t]:.1f}" for c in published_columns]
        )
        lines.append("| " + " | ".join(cells) + " |")
    avg = ["**average**"] + [f"**{_pm(g.average)}**" for g in groups]
    if published:
        avg += [f"**{100 * published.reported_average_accuracy(c):.1f}**" for c in published_columns]
    lines.append("| " + " | ".join(avg) + " |")
    lines.append(
        "| wall time per run | "
        + " | ".join(f"{g.wall_seconds / 60:.1f} min" for g in groups)
        + " |"
        + " |" * len(published_columns)
    )
    return "\n".join(lines)


def _pm(v: tuple[float, float] | None) -> str:
    return "-" if v is None else f"{100 * v[0]:.1f} ± {100 * v[1]:.1f}"

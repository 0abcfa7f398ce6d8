"""Aggregate finished runs (one per seed) into per-task mean ± std tables."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .published import PublishedTable


@dataclass
class GroupSummary:
    """Runs of one configuration over several seeds."""

    label: str
    seeds: list[int]
    per_task: dict[str, tuple[float, float]]  # task -> (mean, std) of the main test metric
    average: tuple[float, float]  # mean, std over seeds of the task average
    wall_seconds: float  # mean per run


def read_metrics(run_dir: Path) -> dict:
    path = Path(run_dir) / "metrics.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "not found; expected a finished run directory") from None
    except ValueError as exc:
        raise DataError(path, f"invalid JSON ({exc})") from None


def summarize(label: str, run_dirs: list[Path], metric: str = "accuracy", split: str = "test") -> GroupSummary:
    runs = [read_metrics(d) for d in run_dirs]
    values: dict[str, list[float]] = defaultdict(list)
    for m in runs:
        for task, scores in m["tasks"].items():
            values[task].append(scores[split][metric])
    std = lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0  # noqa: E731
    averages = [m["average"][split] for m in runs]
    return GroupSummary(
        label, [m["seed"] for m in runs],
        {t: (float(np.mean(v)), std(v)) for t, v in values.items()},
        (float(np.mean(averages)), std(averages)),
        float(np.mean([m["wall_seconds"] for m in runs])),
    )


def markdown_table(groups: list[GroupSummary], published: PublishedTable | None = None,
                   published_columns: tuple[str, ...] = ()) -> str:
    """Accuracy (%) per task: ours as mean ± std over seeds, published columns clearly labelled."""
    tasks = list(groups[0].per_task)
    head = ["task"] + [f"{g.label} (ours, n={len(g.seeds)})" for g in groups] + \
        [f"{c} (published)" for c in published_columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    pub = {c: published.accuracy(c) for c in published_columns} if published else {}
    for t in tasks:
        cells = [t] + [_pm(g.per_task.get(t)) for g in groups] + [f"{100 * pub[c][t]:.1f}" for c in published_columns]
        lines.append("| " + " | ".join(cells) + " |")
    avg = ["**average**"] + [f"**{_pm(g.average)}**" for g in groups]
    if published:
        avg += [f"**{100 * published.reported_average_accuracy(c):.1f}**" for c in published_columns]
    lines.append("| " + " | ".join(avg) + " |")
    lines.append("| wall time per run | " + " | ".join(f"{g.wall_seconds / 60:.1f} min" for g in groups)
                 + " |" + " |" * len(published_columns))
    return "\n".join(lines)


def _pm(v: tuple[float, float] | None) -> str:
    return "-" if v is None else f"{100 * v[0]:.1f} ± {100 * v[1]:.1f}"

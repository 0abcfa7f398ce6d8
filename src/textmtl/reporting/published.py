"""Published result tables shipped as data (values from ../shared/reference/papers.md).

A table is `resources/published/<name>.json`: `source` (full citation), `label` (short, e.g.
"GetMTL Table 3"), `metric` ("accuracy (%)" or "error rate (%)"), `columns`, `rows` keyed by our
task names (`task_names` maps them to the paper's), `reported_average` (the Avg row as printed)
and `decimals` (as printed). Error rates are turned into accuracies by the accessors below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class PublishedTable:
    source: str
    metric: str
    columns: tuple[str, ...]
    rows: dict[str, tuple[float, ...]]  # our task name -> one value per column
    reported_average: tuple[float, ...]
    label: str = ""  # short name for column headers, e.g. "GetMTL Table 3"
    decimals: int = 1  # as printed in the paper
    task_names: dict[str, str] | None = None  # our task name -> the paper's

    def _to_accuracy(self, v: float) -> float:
        return 1 - v / 100 if self.metric.startswith("error") else v / 100

    def accuracy(self, column: str) -> dict[str, float]:
        """One column as accuracies in [0, 1] (error rates are converted)."""
        i = self.columns.index(column)
        return {task: self._to_accuracy(values[i]) for task, values in self.rows.items()}

    def reported_average_accuracy(self, column: str) -> float:
        return self._to_accuracy(self.reported_average[self.columns.index(column)])

    def row_mean_accuracy(self, column: str, tasks: list[str] | None = None) -> float:
        """Mean of the column's per-task rows (all rows, or `tasks`), as an accuracy in [0, 1]."""
        acc = self.accuracy(column)
        names = list(acc) if tasks is None else [t for t in tasks if t in acc]
        if not names:
            raise ValueError(f"{self.label or self.source}: none of the tasks {tasks} are in the table")
        return sum(acc[t] for t in names) / len(names)


def published_table_names() -> list[str]:
    folder = resources.files("textmtl.resources.published")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_published(name: str) -> PublishedTable:
    data = json.loads(resources.files("textmtl.resources.published").joinpath(f"{name}.json").read_text())
    return PublishedTable(
        data["source"],
        data["metric"],
        tuple(data["columns"]),
        {t: tuple(v) for t, v in data["rows"].items()},
        tuple(data["reported_average"]),
        label=data.get("label", name),
        decimals=int(data.get("decimals", 1)),
        task_names=data.get("task_names"),
    )

"""Published result tables shipped as data (values from ../shared/reference/papers.md)."""

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

    def accuracy(self, column: str) -> dict[str, float]:
        """One column as accuracies in [0, 1] (error rates are converted)."""
        i = self.columns.index(column)
        convert = (lambda v: 1 - v / 100) if self.metric.startswith("error") else (lambda v: v / 100)
        return {task: convert(values[i]) for task, values in self.rows.items()}

    def reported_average_accuracy(self, column: str) -> float:
        v = self.reported_average[self.columns.index(column)]
        return 1 - v / 100 if self.metric.startswith("error") else v / 100


def load_published(name: str) -> PublishedTable:
    data = json.loads(resources.files("textmtl.resources.published").joinpath(f"{name}.json").read_text())
    return PublishedTable(data["source"], data["metric"], tuple(data["columns"]),
                          {t: tuple(v) for t, v in data["rows"].items()}, tuple(data["reported_average"]))

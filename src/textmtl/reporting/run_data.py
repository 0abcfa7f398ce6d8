"""What a run directory holds, read for the report (config, history, metrics), and small helpers on it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import DataError

# ------------------------------------------------------------------------------ run directories


@dataclass
class RunData:
    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any] | None
    history: list[dict[str, Any]]
    bad_lines: int = 0

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def method(self) -> str:
        if self.metrics and "method" in self.metrics:
            return str(self.metrics["method"])
        method = self.config.get("method")
        return str(method.get("name", "?") if isinstance(method, dict) else method or "?")

    @property
    def tasks(self) -> list[str]:
        names: dict[str, None] = {}
        if self.metrics:
            names.update(dict.fromkeys(self.metrics.get("tasks", {})))
        for r in self.history:
            names.update(dict.fromkeys(r.get("dev") or {}))
        return list(names)

    def main_metric(self, task: str) -> str | None:
        """The task's main metric: metrics.json's `main_metrics` (the metric its average used: mcc for
        CoLA), else the first score in metrics.json (older runs), else in history."""
        main = ((self.metrics or {}).get("main_metrics") or {}).get(task)
        if isinstance(main, str):
            return main
        scores = (self.metrics or {}).get("tasks", {}).get(task) or {}
        for split in ("test", "dev"):
            if scores.get(split):
                return next(iter(scores[split]))
        for r in self.history:
            if (r.get("dev") or {}).get(task):
                return next(iter(r["dev"][task]))
        return None


def is_run_dir(path: Path) -> bool:
    return (path / "history.jsonl").is_file() or (path / "metrics.json").is_file()


def load_run_data(path: Path) -> RunData:
    """config.yaml, metrics.json and history.jsonl of a run (finished or `.partial`); lines of
    history.jsonl that are not JSON objects (a crash mid-write) are skipped and counted."""
    config: dict[str, Any] = {}
    if (path / "config.yaml").is_file():
        try:
            loaded = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise DataError(path / "config.yaml", f"invalid YAML ({' '.join(str(exc).split())})") from None
        config = loaded if isinstance(loaded, dict) else {}
    metrics = None
    if (path / "metrics.json").is_file():
        try:
            metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DataError(path / "metrics.json", f"invalid JSON ({exc})") from None
        if not isinstance(metrics, dict):
            raise DataError(path / "metrics.json", "expected a JSON object")
    history, bad = [], 0
    if (path / "history.jsonl").is_file():
        for line in (path / "history.jsonl").read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(record, dict) and "step" in record:
                history.append(record)
            else:
                bad += 1
    return RunData(path, config, metrics, history, bad)


def _series(records: Sequence[Mapping], value: Callable[[Mapping], Any]) -> tuple[list[float], list[float]]:
    steps, values = [], []
    for r in records:
        v = value(r)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            steps.append(float(r["step"]))
            values.append(float(v))
    return steps, values


def _mean_train_loss(record: Mapping) -> float | None:
    """The mean over tasks of a history record's running training losses (None without finite ones)."""
    losses = record.get("train_loss")
    values = [float(v) for v in losses.values() if _finite(v)] if isinstance(losses, dict) else []
    return sum(values) / len(values) if values else None


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _matrix_ok(m: Any) -> bool:
    return (
        isinstance(m, list)
        and bool(m)
        and all(isinstance(r, list) and len(r) == len(m[0]) for r in m)
        and all(v is None or _finite(v) for r in m for v in r)
    )


def _as_array(m: list[list[Any]]) -> list[list[float]]:
    return [[math.nan if v is None else float(v) for v in row] for row in m]


def _mean_off_diagonal(m: list[list[float]]) -> float:
    a = np.asarray(m, dtype=float)
    off = a[np.eye(*a.shape) == 0]
    return float(np.nanmean(off)) if off.size else math.nan


def _spread(items: Sequence[Any], n: int) -> list[Any]:
    """Up to `n` items evenly spread over `items`, the first and the last included."""
    if len(items) <= n:
        return list(items)
    picks = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in picks]

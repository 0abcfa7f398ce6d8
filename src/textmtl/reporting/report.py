"""`textmtl report DIR`: one self-contained report.html for a run or a benchmark directory.

A run directory (history.jsonl, metrics.json, config.yaml) gives per-task scores, training
curves, the gradient-conflict heatmap and its evolution, task weights over time and, where the
run recorded them, task-communication and MMoE gate matrices. A benchmark
directory (results.csv, summary.md, runs/) gives per-task scores of each method against STL and
LS, Δm% per method (`grid_summary.delta_m_by_method`, as in summary.md), dev curves and conflict
shares of its runs, and summary.md itself. A section whose data the directory lacks says so.

The page has no scripts, styles or images from elsewhere: PNGs are inlined as base64, and the
same PNGs are written beside report.html.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import DataError, TextmtlError
from ..files import atomic_write_text
from . import figures
from .grid_metrics import is_lower_better, mean_rank
from .grid_summary import delta_m_by_method, read_results_csv, task_means


@dataclass
class Section:
    """One part of the page: figures (PNG file names), HTML bits and notes on what is missing."""

    title: str
    intro: str = ""  # HTML
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, alt text)
    html: str = ""
    notes: list[str] = field(default_factory=list)  # plain text
    beside: bool = False  # the HTML beside the (single) figure, not under it


@dataclass
class Report:
    title: str
    facts: list[tuple[str, str]]  # plain text
    tasks: list[str]
    sections: list[Section]
    images: dict[str, bytes]
    source: Path


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
        """The task's main metric: the first one in metrics.json (as results.csv takes it), else in history."""
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
    return (isinstance(m, list) and bool(m) and all(isinstance(r, list) and len(r) == len(m[0]) for r in m)
            and all(v is None or _finite(v) for r in m for v in r))


def _as_array(m: list[list[Any]]) -> list[list[float]]:
    return [[math.nan if v is None else float(v) for v in row] for row in m]


def _mean_off_diagonal(m: list[list[float]]) -> float:
    a = np.asarray(m, dtype=float)
    off = a[~np.eye(*a.shape, dtype=bool)]
    return float(np.nanmean(off)) if off.size else math.nan


def _spread(items: Sequence[Any], n: int) -> list[Any]:
    """Up to `n` items evenly spread over `items`, the first and the last included."""
    if len(items) <= n:
        return list(items)
    picks = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in picks]


def run_report(run: RunData) -> Report:
    tasks = run.tasks
    images: dict[str, bytes] = {}
    sections: list[Section] = []

    def add(name: str, fig) -> str:
        images[name] = figures.png(fig)
        return name

    joint = [r for r in run.history if ":" not in str(r.get("job", ""))]  # one job training every task
    separate = len(joint) < len(run.history)  # e.g. stl: one job per task, steps restart per job
    metric = {t: run.main_metric(t) for t in tasks}
    metric_label = _metric_label(metric)

    # --- per-task scores
    s = Section("Per-task scores")
    if run.metrics and run.metrics.get("tasks"):
        split_scores = {split: {t: v[split][metric[t]] for t, v in run.metrics["tasks"].items()
                                if metric[t] and _finite((v.get(split) or {}).get(metric[t]))}
                        for split in ("dev", "test")}
        split_scores = {split: v for split, v in split_scores.items() if v}  # a protocol without a dev set
        splits = " and ".join(split_scores)
        if split_scores:
            s.intro = f"{splits.capitalize()} {html.escape(metric_label)} of the saved model (metrics.json)."
            s.figures.append((add("scores.png", figures.score_bars(tasks, split_scores, metric_label)),
                              f"per-task {splits} scores"))
        else:
            s.notes.append("metrics.json has no finite dev or test score: no score chart.")
        s.html = _run_score_table(run, tasks, metric)
        s.beside = True
    elif run.history:
        last = run.history[-1]
        s.notes.append("No metrics.json (an unfinished run): the scores are the last dev evaluation in history.jsonl.")
        dev = {t: v[metric[t]] for t, v in (last.get("dev") or {}).items() if metric.get(t) and _finite(v.get(metric[t]))}
        s.figures.append((add("scores.png", figures.score_bars(tasks, {"dev": dev}, metric_label)), "per-task dev scores"))
    s.notes.append("Comparisons with single-task learning (STL) and linear scalarisation (LS) are in the report "
                   "of a benchmark directory: `textmtl report benchmarks/<suite>/`.")
    sections.append(s)

    # --- training curves
    s = Section("Training curves")
    if run.history:
        loss = {t: _series(run.history, lambda r, t=t: (r.get("train_loss") or {}).get(t)) for t in tasks}
        dev = {t: _series(run.history, lambda r, t=t: ((r.get("dev") or {}).get(t) or {}).get(metric[t] or ""))
               for t in tasks}
        extra = {}
        if joint and not separate:
            extra = {1: {"dev average": _series(joint, lambda r: r.get("dev_average"))}}
        if any(steps for steps, _ in dev.values()):
            panels = [("training loss", loss), (f"dev {metric_label}", dev)]
            s.intro = ("Left: each task's training loss (running mean over steps); right: each task's dev "
                       f"{html.escape(metric_label)} at every evaluation"
                       + (", with the task average in black." if extra else "."))
        else:
            panels, extra = [("training loss", loss)], {}
            s.intro = ("Each task's training loss (running mean over steps) at every evaluation; the run has no "
                       "dev scores (its protocol has no dev set), so there are no dev curves.")
        if separate:
            s.notes.append("Each task was trained on its own (one job per task): the steps are counted per task.")
        s.figures.append((add("curves.png", figures.curves(panels, tasks, extra)), "training curves"))
    else:
        s.notes.append("history.jsonl has no evaluation records: no curves.")
    sections.append(s)

    # --- gradient conflicts
    s = Section("Gradient conflicts")
    diag = [r for r in run.history if isinstance(r.get("gradients"), dict) and _matrix_ok(r["gradients"].get("cosine"))]
    if diag:
        last = diag[-1]["gradients"]
        names = [str(t) for t in last.get("tasks", tasks)]
        if len(names) != len(last["cosine"]):  # not as the diagnostics write it: number the rows
            names = [str(i + 1) for i in range(len(last["cosine"]))]
        s.intro = ("Cosine similarity between the tasks' gradients on the shared parameters at an evaluation "
                   "step (red: the tasks pull apart, blue: together), then how it evolved.")
        s.figures.append((add("conflicts.png", figures.heatmap(
            _as_array(last["cosine"]), names, names, f"gradient cosine, step {diag[-1]['step']} (last evaluation)",
            "cosine similarity")), "gradient cosine heatmap at the last evaluation"))
        same = [r for r in diag if [str(t) for t in r["gradients"].get("tasks", [])] == names]
        picks = _spread(same, 4)
        if len(picks) > 1:
            s.figures.append((add("conflicts-steps.png", figures.heatmap_steps(
                [(r["step"], _as_array(r["gradients"]["cosine"])) for r in picks], names, "cosine similarity")),
                "gradient cosine heatmaps at a few steps"))
        share = _series(diag, lambda r: r["gradients"].get("conflicting_pairs"))
        cosine = _series(diag, lambda r: _mean_off_diagonal(_as_array(r["gradients"]["cosine"])))
        norms = {t: _series(diag, lambda r, t=t: (r["gradients"].get("grad_norms") or {}).get(t)) for t in names}
        if share[0] and len(share[0]) == len(cosine[0]):
            s.figures.append((add("conflicts-evolution.png", figures.conflict_evolution(
                share[0], share[1], cosine[1], norms, names)), "evolution of gradient conflicts"))
    else:
        s.notes.append(f"No gradient diagnostics in history.jsonl: method '{run.method}' does not compute "
                       "per-task gradients (linear scalarisation and loss-weighting methods do not), so there is "
                       "no conflict heatmap.")
    sections.append(s)

    # --- task weights
    s = Section("Task weights over time")
    weights = {t: _series(run.history, lambda r, t=t: (r.get("weights") or {}).get(t)) for t in tasks}
    weights = {t: v for t, v in weights.items() if v[0]}
    if weights:
        s.intro = "The weight the method gave each task's loss or gradient at the evaluation steps."
        s.figures.append((add("weights.png", figures.lines(weights, tasks, "task weight")), "task weights over time"))
        if all(len(set(v[1])) == 1 for v in weights.values()) and len({v[1][0] for v in weights.values()}) == 1:
            s.notes.append(f"Every task has the same constant weight ({next(iter(weights.values()))[1][0]:g}).")
    else:
        s.notes.append("No task weights in history.jsonl.")
    sections.append(s)

    # --- matrices an architecture records
    sections.append(_matrix_section(run, add, "communication", "Task communication",
                                    "How much each task's node reads from every other task's (rows: receiving task).",
                                    "not a graph architecture (graph_complete, graph_star)",
                                    ("sending task j", "receiving task k")))
    gates = _mmoe_section(run, add, tasks)
    if gates is not None:
        sections.append(gates)

    facts = [("run", run.name), ("method", run.method)]
    model = run.config.get("model") if isinstance(run.config.get("model"), dict) else {}
    encoder = model.get("encoder") if isinstance(model.get("encoder"), dict) else {}
    facts.append(("model", f"{model.get('architecture', '?')} sharing, {encoder.get('type', '?')} encoder"))
    if run.metrics:
        facts += [("seed", str(run.metrics.get("seed", "?"))), ("steps", str(run.metrics.get("steps", "?"))),
                  ("training time", _duration(run.metrics.get("wall_seconds")))]
        avg = run.metrics.get("average") or {}
        if _finite(avg.get("test")):
            facts.append(("test average", f"{100 * avg['test']:.2f}"))
    else:
        facts.append(("status", "unfinished (no metrics.json)"))
    facts.append(("evaluations", str(len(run.history)) + (f" ({run.bad_lines} unreadable lines skipped)"
                                                          if run.bad_lines else "")))
    facts.append((f"tasks ({len(tasks)})", ", ".join(tasks)))
    return Report(f"textmtl run {run.name}", facts, tasks, sections, images, run.path)


def _matrix_section(run: RunData, add, key: str, title: str, intro: str, missing: str,
                    axes: tuple[str, str] = ("", "")) -> Section:
    """A K x K matrix an architecture records as `{tasks, matrix}` under `key` (last dev evaluation;
    the test one of metrics.json too)."""
    s = Section(title)
    found = [(f"dev, step {r['step']} (last evaluation)", r[key]) for r in run.history
             if isinstance(r.get(key), dict) and _matrix_ok(r[key].get("matrix"))][-1:]
    test = (((run.metrics or {}).get("architecture") or {}).get("test") or {}).get(key)
    if isinstance(test, dict) and _matrix_ok(test.get("matrix")):
        found.append(("test set (metrics.json)", test))
    if not found:
        s.notes.append(f"No {title.lower()} matrix in this run: {missing}.")
        return s
    s.intro = html.escape(intro)
    definition = found[-1][1].get("definition")
    if isinstance(definition, str):
        s.intro += f" <span class=muted>{html.escape(definition)}</span>"
    for i, (where, value) in enumerate(found):
        names = [str(t) for t in value.get("tasks", [])]
        matrix = _as_array(value["matrix"])
        if len(names) != len(matrix):
            names = [str(i) for i in range(len(matrix))]
        cols = names if len(matrix[0]) == len(names) else [str(j) for j in range(len(matrix[0]))]
        a = np.asarray(matrix, dtype=float)
        diverging = bool(np.nanmin(a) < 0) if np.isfinite(a).any() else False
        s.figures.append((add(f"{key}-{i + 1}.png", figures.heatmap(matrix, names, cols, f"{title.lower()}, {where}",
                                                                   key, diverging=diverging, xlabel=axes[0],
                                                                   ylabel=axes[1])), f"{title} {where}"))
    return s


def _mmoe_section(run: RunData, add, tasks: list[str]) -> Section | None:
    gates = [r for r in run.history if isinstance(r.get("mmoe_gates"), dict) and r["mmoe_gates"]]
    if not gates:
        return None
    last = gates[-1]["mmoe_gates"]
    names = [t for t in tasks if isinstance(last.get(t), list)] or [str(t) for t in last]
    rows = [last[t] for t in names]
    if not _matrix_ok(rows):
        return None
    s = Section("MMoE expert gates", "Mean gate weight of each expert for each task's dev inputs (last evaluation).")
    experts = [f"expert {j + 1}" for j in range(len(rows[0]))]
    s.figures.append((add("mmoe-gates.png", figures.heatmap(_as_array(rows), names, experts, "MMoE gates",
                                                            "mean gate weight", diverging=False, limit=1.0)),
                      "MMoE gates"))
    return s


def _run_score_table(run: RunData, tasks: list[str], metric: Mapping[str, str | None]) -> str:
    rows = []
    for t in tasks:
        scores = (run.metrics or {}).get("tasks", {}).get(t) or {}
        m = metric[t] or ""
        cells = [html.escape(t), html.escape(m)] + [_pct((scores.get(split) or {}).get(m)) for split in ("dev", "test")]
        rows.append(cells)
    avg = (run.metrics or {}).get("average") or {}
    rows.append(["<b>average</b>", "", _pct(avg.get("dev")), _pct(avg.get("test"))])
    return _table(["task", "metric", "dev", "test"], rows, numeric_from=2)


# ------------------------------------------------------------------------------ benchmark directories


def is_benchmark_dir(path: Path) -> bool:
    return (path / "results.csv").is_file()


def benchmark_report(path: Path, reference: str = "stl", marks: tuple[str, ...] = ("stl", "ls")) -> Report:
    try:
        rows = read_results_csv(path / "results.csv")
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(path / "results.csv", f"not a textmtl results.csv ({type(exc).__name__}: {exc})") from None
    images: dict[str, bytes] = {}
    sections: list[Section] = []
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    tasks_all = list(dict.fromkeys(r["task"] for r in rows))
    several = len(variants) > 1

    def add(name: str, fig) -> str:
        images[name] = figures.png(fig)
        return name

    if not rows:
        sections.append(Section("Results", notes=["results.csv has no finished runs yet."]))
    for vi, variant in enumerate(variants):
        prefix = f"{vi + 1}-" if several else ""
        where = f" (variant {variant})" if several else ""
        vrows = [r for r in rows if r["variant"] == variant]
        tasks = list(dict.fromkeys(r["task"] for r in vrows))
        metric = {r["task"]: r["metric"] for r in vrows}
        lower = {t: is_lower_better(metric[t]) for t in tasks}
        means = task_means(vrows)
        methods = list(means)
        label = _metric_label(metric)

        s = Section(f"Per-task test scores{where}")
        references = {m: means[m] for m in marks if m in means}
        shown = {m: means[m] for m in methods if m != reference} or dict(means)
        styles = ("black tick", "red diamond", "green dot")
        named = ", ".join(f"{html.escape(m)} ({styles[min(i, 2)]})" for i, m in enumerate(references))
        s.intro = (f"Test {html.escape(label)} per task, mean over seeds: each method's bars"
                   + (f" against the scores of {named}." if named else "."))
        for name in marks:
            if name not in means:
                s.notes.append(f"No finished '{name}' runs{where}: no {name} marks.")
        s.figures.append((add(f"{prefix}scores.png", figures.methods_vs_references(
            tasks, {m: {t: 100 * v for t, v in sc.items()} for m, sc in shown.items()},
            {m: {t: 100 * v for t, v in sc.items()} for m, sc in references.items()}, f"test {label} (×100)")),
            f"per-task scores of each method{where}"))
        s.html = _means_table(tasks, means)
        sections.append(s)

        s = Section(f"Δm% and mean rank per method{where}")
        try:
            deltas, used, dropped = (delta_m_by_method(means, reference, tasks, lower)
                                     if reference in means and len(methods) > 1 else ({}, [], []))
        except ValueError as exc:  # e.g. a reference score that is not a number
            deltas, used, dropped = {}, [], []
            s.notes.append(f"No Δm%: {exc}.")
        if deltas:
            others = {m: v for m, v in deltas.items() if m != reference}
            if others:
                s.intro = (f"Δm% (Maninis et al. 2019): the mean relative difference to {html.escape(reference)} "
                           f"over {len(used)} tasks, in percent, as in summary.md; positive = better than "
                           f"{html.escape(reference)}.")
                s.figures.append((add(f"{prefix}delta-m.png", figures.delta_m_bars(others, reference)),
                                  f"delta m per method{where}"))
            if dropped:
                s.notes.append(f"Δm% leaves out {', '.join(dropped)} ({reference} score 0 or a method without a "
                               "score there).")
        elif not s.notes:
            s.notes.append(f"No Δm% chart: no finished '{reference}' (single-task) runs{where} to measure against"
                           + ("." if reference not in means else ", or no other method."))
        if len(methods) > 1:  # mean rank (1 = best on every task) needs no reference
            ranks = mean_rank(means, lower)
            s.html = _table(["method", f"Δm% vs {html.escape(reference)}", "mean rank"],
                            [[html.escape(m), f"{deltas[m]:+.2f}" if m in deltas else "-",
                              f"{ranks[m]:.2f}" if math.isfinite(ranks[m]) else "-"] for m in methods], numeric_from=1)
        sections.append(s)

        runs = _load_runs(path, vrows)
        sections.append(_benchmark_curves(runs, add, prefix, where))

    summary = path / "summary.md"
    if summary.is_file():
        sections.append(Section("summary.md", html=markdown_to_html(summary.read_text(encoding="utf-8"))))
    else:
        sections.append(Section("summary.md", notes=["No summary.md in this directory."]))
    sections.append(_runs_table(path, rows))

    suite = rows[0]["suite"] if rows else path.name
    facts = [("benchmark", suite), ("directory", str(path)),
             ("methods", ", ".join(dict.fromkeys(r["method"] for r in rows)) or "-"),
             ("finished runs", str(len({(r["variant"], r["method"], r["seed"]) for r in rows})))]
    if several:
        facts.append(("variants", ", ".join(variants)))
    facts.append((f"tasks ({len(tasks_all)})", ", ".join(tasks_all)))
    return Report(f"textmtl benchmark {suite}", facts, tasks_all, sections, images, path)


def _load_runs(path: Path, rows: Sequence[Mapping]) -> list[tuple[Mapping, RunData]]:
    """(a results.csv row, its run) per run with a readable history.jsonl."""
    out, seen = [], set()
    for r in rows:
        run_dir = path / str(r.get("run_dir") or "")
        if r.get("run_dir") and run_dir not in seen and (run_dir / "history.jsonl").is_file():
            seen.add(run_dir)
            try:
                out.append((r, load_run_data(run_dir)))
            except DataError:
                continue
    return out


def _benchmark_curves(runs: Sequence[tuple[Mapping, RunData]], add, prefix: str, where: str) -> Section:
    s = Section(f"Training of the runs{where}")
    dev, loss, share, group = {}, {}, {}, {}
    for row, run in runs:
        joint = [r for r in run.history if ":" not in str(r.get("job", ""))]
        key = f"{row['method']} s{row['seed']}"
        group[key] = str(row["method"])
        if joint:
            dev[key] = _series(joint, lambda r: r.get("dev_average"))
            loss[key] = _series(joint, _mean_train_loss)
        diag = [r for r in joint if isinstance(r.get("gradients"), dict)]
        if diag:
            share[key] = _series(diag, lambda r: r["gradients"].get("conflicting_pairs"))
    dev = {k: v for k, v in dev.items() if v[0]}
    loss = {k: v for k, v in loss.items() if v[0]}
    keys = list(group)
    if dev:
        s.intro = "Dev average of every run at its evaluations (one colour per method, one line per seed)."
        s.figures.append((add(f"{prefix}dev-curves.png", figures.lines(dev, keys, "dev average", labels=group)),
                          f"dev average curves{where}"))
    elif loss:  # a protocol without a dev set (amazon-14 trains on train+dev): the training loss instead
        s.intro = ("No run has a dev score (the protocol has no dev set), so this is the mean training loss "
                   "over the tasks at every evaluation (one colour per method, one line per seed).")
        s.figures.append((add(f"{prefix}train-loss.png", figures.lines(
            loss, keys, "mean training loss over tasks", labels=group)), f"training loss curves{where}"))
    if share:
        s.figures.append((add(f"{prefix}conflict-share.png", figures.lines(
            share, keys, "share of conflicting task pairs", labels=group)), f"conflict share{where}"))
    else:
        s.notes.append("No run recorded gradient diagnostics (only methods that compute per-task gradients do).")
    if not runs:
        s.notes.append("No run directory with a history.jsonl found under this benchmark.")
    elif any(":" in str(r.get("job", "")) for _, run in runs for r in run.history[:1]):
        s.notes.append("Runs that train each task on its own (stl) have no joint curve.")
    return s


def _runs_table(path: Path, rows: Sequence[Mapping]) -> Section:
    runs: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        entry = runs.setdefault((r["variant"], r["method"], r["seed"]), {"row": r, "scores": []})
        entry["scores"].append(float(r["test"]))
    body = []
    for (variant, method, seed), entry in runs.items():
        r = entry["row"]
        scores = [v for v in entry["scores"] if math.isfinite(v)]
        own = path / str(r.get("run_dir") or "") / "report" / "report.html"
        name = html.escape(Path(str(r.get("run_dir") or "")).name or "-")
        if own.is_file():
            name = f'<a href="{html.escape(own.resolve().as_uri())}">{name}</a>'  # the page may be elsewhere
        body.append([name, html.escape(str(variant)), html.escape(str(method)), str(seed),
                     _pct(sum(scores) / len(scores) if scores else None), str(r.get("steps") or "-"),
                     _duration(r.get("wall_seconds"))])
    return Section("Runs", "One row per finished run: its mean test score over tasks. <code>textmtl report "
                   "RUN_DIR</code> shows one run in detail.",
                   html=_table(["run", "variant", "method", "seed", "test average", "steps", "wall time"], body,
                               numeric_from=3))


# ------------------------------------------------------------------------------ HTML


_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Helvetica,Arial,sans-serif;margin:0;color:#1d1d1f;
background:#f4f5f7;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 12px}h2{font-size:19px;margin:0 0 8px}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:16px 20px;margin:16px 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.facts dt{font-weight:600;color:#444}dl.facts dd{margin:0}
img{max-width:100%;height:auto;display:block;margin:10px auto}
div.beside{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}div.beside img{margin:10px 0;min-width:0;flex:0 1 auto}
table{border-collapse:collapse;margin:10px 0;font-size:14px}
th,td{border-bottom:1px solid #e3e6ea;padding:3px 10px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#f8f9fb}
p.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px;margin:8px 0;font-size:14px}
.muted{color:#666}code{background:#eef0f3;padding:0 3px;border-radius:3px}
footer{color:#777;font-size:13px;text-align:center;padding:8px 0 24px}
"""


def render_html(report: Report) -> str:
    """The page, with every image inline (no file, script or style from elsewhere)."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body><main>",
             f"<h1>{html.escape(report.title)}</h1>", "<section><dl class=facts>"]
    for key, value in report.facts:
        parts.append(f"<dt>{html.escape(key)}</dt><dd>{html.escape(value)}</dd>")
    parts.append("</dl></section>")
    for s in report.sections:
        parts.append(f"<section><h2>{html.escape(s.title)}</h2>")
        if s.intro:
            parts.append(f"<p>{s.intro}</p>")
        if s.beside:
            parts.append("<div class=beside>")
        for name, alt in s.figures:
            data = base64.b64encode(report.images[name]).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" title="{html.escape(name)}">')
        if s.html:
            parts.append(s.html)
        if s.beside:
            parts.append("</div>")
        for note in s.notes:
            parts.append(f"<p class=note>{_inline(note)}</p>")
        parts.append("</section>")
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    parts.append(f"<footer>textmtl report of {html.escape(str(report.source))}, {stamp}</footer></main></body></html>")
    return "\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escape, then `code` and **bold** spans."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def markdown_to_html(text: str) -> str:
    """The Markdown of summary.md (headings, bullets, pipe tables, paragraphs) as HTML."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            body = [r for r in block[1:] if not all(set(c) <= set("-: ") for c in r)]
            out.append(_table([_inline(c) for c in block[0]], [[_inline(c) for c in r] for r in body], numeric_from=1))
            continue
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 2, 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line:
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 99) -> str:
    """An HTML table from already escaped cells; columns from `numeric_from` on are right-aligned."""
    parts = ["<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        parts.append("<tr>" + "".join(f'<td class="num">{c}</td>' if j >= numeric_from else f"<td>{c}</td>"
                                      for j, c in enumerate(row)) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _means_table(tasks: Sequence[str], means: Mapping[str, Mapping[str, float]]) -> str:
    methods = list(means)
    rows = [[html.escape(t)] + [_pct(means[m].get(t)) for m in methods] for t in tasks]
    return _table(["task"] + [html.escape(m) for m in methods], rows, numeric_from=1)


def _pct(v: Any) -> str:
    return f"{100 * float(v):.2f}" if _finite(v) else "-"


def _metric_label(metric: Mapping[str, str | None]) -> str:
    names = sorted({m for m in metric.values() if m})
    return names[0] if len(names) == 1 else "main metric"


def _duration(seconds: Any) -> str:
    if not _finite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


# ------------------------------------------------------------------------------ entry point


def _previous_images(page: Path) -> set[str]:
    """The PNG files an earlier report.html in the same directory wrote beside itself (its inline images'
    titles), so that a re-render removes the ones it no longer has and never touches other files."""
    try:
        text = page.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return set(re.findall(r'<img src="data:image/png;base64,[^"]*" alt="[^"]*" title="([^"/\\]+\.png)">', text))


def build_report(path: str | Path, out: str | Path | None = None, reference: str = "stl",
                 marks: tuple[str, ...] = ("stl", "ls")) -> Path:
    """Write `report.html` and its PNGs into `out` (default `<path>/report/`); returns the page's path."""
    path = Path(path)
    if not path.exists():
        raise TextmtlError(f"{path}: no such directory")
    if not path.is_dir():
        raise TextmtlError(f"{path}: not a directory; give a run directory or a benchmark directory")
    if is_benchmark_dir(path):
        report = benchmark_report(path, reference, marks)
    elif is_run_dir(path):
        report = run_report(load_run_data(path))
    else:
        raise TextmtlError(f"{path}: neither a run directory (history.jsonl, metrics.json) nor a benchmark "
                           "directory (results.csv)")
    target = Path(out) if out is not None else path / "report"
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in _previous_images(target / "report.html") - set(report.images):
            (target / name).unlink(missing_ok=True)  # a figure the new page no longer has: not left beside it
        for name, data in report.images.items():
            (target / name).write_bytes(data)
        page = target / "report.html"
        atomic_write_text(page, render_html(report))
    except OSError as exc:
        raise TextmtlError(f"{target}: cannot write the report ({exc.strerror or exc})") from None
    return page


__all__ = [
    "Report",
    "RunData",
    "Section",
    "benchmark_report",
    "build_report",
    "load_run_data",
    "markdown_to_html",
    "render_html",
    "run_report",
]

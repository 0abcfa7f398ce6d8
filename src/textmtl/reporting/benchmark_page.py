"""The report of a benchmark directory: per-task scores of every method, Δm%, mean rank, curves, runs."""

from __future__ import annotations

import html
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError
from . import bundle, figures
from .grid_metrics import is_lower_better, mean_rank
from .grid_summary import delta_m_by_method, read_results_csv, task_means
from .page import Report, Section, _duration, _means_table, _metric_label, _pct, _table, markdown_to_html
from .run_data import RunData, _mean_train_loss, _series, load_run_data

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
        s.intro = f"Test {html.escape(label)} per task, mean over seeds: each method's bars" + (
            f" against the scores of {named}." if named else "."
        )
        for name in marks:
            if name not in means:
                s.notes.append(f"No finished '{name}' runs{where}: no {name} marks.")
        s.figures.append(
            (
                add(
                    f"{prefix}scores.png",
                    figures.methods_vs_references(
                        tasks,
                        {m: {t: 100 * v for t, v in sc.items()} for m, sc in shown.items()},
                        {m: {t: 100 * v for t, v in sc.items()} for m, sc in references.items()},
                        f"test {label} (×100)",
                    ),
                ),
                f"per-task scores of each method{where}",
            )
        )
        s.html = _means_table(tasks, means)
        sections.append(s)

        s = Section(f"Δm% and mean rank per method{where}")
        try:
            deltas, used, dropped = (
                delta_m_by_method(means, reference, tasks, lower)
                if reference in means and len(methods) > 1
                else ({}, [], [])
            )
        except ValueError as exc:  # e.g. a reference score that is not a number
            deltas, used, dropped = {}, [], []
            s.notes.append(f"No Δm%: {exc}.")
        if deltas:
            others = {m: v for m, v in deltas.items() if m != reference}
            if others:
                s.intro = (
                    f"Δm% (Maninis et al. 2019): the mean relative difference to {html.escape(reference)} "
                    f"over {len(used)} tasks, in percent, as in summary.md; positive = better than "
                    f"{html.escape(reference)}."
                )
                s.figures.append(
                    (add(f"{prefix}delta-m.png", figures.delta_m_bars(others, reference)), f"delta m per method{where}")
                )
            if dropped:
                s.notes.append(
                    f"Δm% leaves out {', '.join(dropped)} ({reference} score 0 or a method without a score there)."
                )
        elif not s.notes:
            s.notes.append(
                f"No Δm% chart: no finished '{reference}' (single-task) runs{where} to measure against"
                + ("." if reference not in means else ", or no other method.")
            )
        if len(methods) > 1:  # mean rank (1 = best on every task) needs no reference
            ranks = mean_rank(means, lower)
            s.html = _table(
                ["method", f"Δm% vs {html.escape(reference)}", "mean rank"],
                [
                    [
                        html.escape(m),
                        f"{deltas[m]:+.2f}" if m in deltas else "-",
                        f"{ranks[m]:.2f}" if math.isfinite(ranks[m]) else "-",
                    ]
                    for m in methods
                ],
                numeric_from=1,
            )
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
    facts = [
        ("benchmark", suite),
        ("directory", str(path)),
        ("methods", ", ".join(dict.fromkeys(r["method"] for r in rows)) or "-"),
        ("finished runs", str(len({(r["variant"], r["method"], r["seed"]) for r in rows}))),
    ]
    if several:
        facts.append(("variants", ", ".join(variants)))
    facts.append((f"tasks ({len(tasks_all)})", ", ".join(tasks_all)))
    return Report(f"textmtl benchmark {suite}", facts, tasks_all, sections, images, path)


def _load_runs(path: Path, rows: Sequence[Mapping]) -> list[tuple[Mapping, RunData]]:
    """(a results.csv row, its run) per run with a readable history.jsonl; a grid whose runs are
    kept as a bundle (`runs.jsonl.gz`, no `runs/`) is read from the bundle."""
    packed = path / "runs.jsonl.gz"
    if packed.is_file() and not (path / "runs").is_dir():
        with tempfile.TemporaryDirectory(prefix="textmtl-report-") as scratch:
            bundle.unpack(packed, Path(scratch) / "runs")
            return _load_runs(Path(scratch), rows)
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
        s.figures.append(
            (
                add(f"{prefix}dev-curves.png", figures.lines(dev, keys, "dev average", labels=group)),
                f"dev average curves{where}",
            )
        )
    elif loss:  # a protocol without a dev set (amazon-14 trains on train+dev): the training loss instead
        s.intro = (
            "No run has a dev score (the protocol has no dev set), so this is the mean training loss "
            "over the tasks at every evaluation (one colour per method, one line per seed)."
        )
        s.figures.append(
            (
                add(
                    f"{prefix}train-loss.png", figures.lines(loss, keys, "mean training loss over tasks", labels=group)
                ),
                f"training loss curves{where}",
            )
        )
    if share:
        s.figures.append(
            (
                add(
                    f"{prefix}conflict-share.png",
                    figures.lines(share, keys, "share of conflicting task pairs", labels=group),
                ),
                f"conflict share{where}",
            )
        )
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
        body.append(
            [
                name,
                html.escape(str(variant)),
                html.escape(str(method)),
                str(seed),
                _pct(sum(scores) / len(scores) if scores else None),
                str(r.get("steps") or "-"),
                _duration(r.get("wall_seconds")),
            ]
        )
    return Section(
        "Runs",
        "One row per finished run: its mean test score over tasks. <code>textmtl report "
        "RUN_DIR</code> shows one run in detail.",
        html=_table(["run", "variant", "method", "seed", "test average", "steps", "wall time"], body, numeric_from=3),
    )

"""Run a benchmark grid: plan, skip finished runs, train the rest in worker processes, then
write `results.csv` and `summary.md`.

Layout of the output directory (default `runs/grids/<suite>/`, `runs/grids/<suite>-quick/`, ignored by git):

    configs/<run>.yaml    the complete config of each run (what the worker trains)
    logs/<run>.log        the worker's output
    runs/<run>/           the run directory written by `textmtl.train` (metrics.json, ...)
    results.csv           one row per finished run and task
    summary.md            the tables

Resuming: a run whose `runs/<run>/metrics.json` exists is done and skipped. A leftover
`runs/<run>.partial/` (a crashed or killed run) continues from its last checkpoint
(`textmtl train --resume`) when it has one and its config is the one the suite gives now;
otherwise it is deleted and the run redone. With a bundle (`--bundle FILE`), the grid also survives
the loss of its output directory (a new machine, a session that ends): every finished run is added
to FILE (no weights) as it finishes, and a later call first restores the planned runs FILE holds
that `runs/` lacks, so they count as done. Workers are
`textmtl train` subprocesses in their own sessions; SIGINT / SIGTERM to the benchmark stops
them (SIGTERM, then SIGKILL), which leaves only `.partial` directories behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..errors import ConfigError
from ..files import atomic_write_text, file_lock
from ..reporting.grid_summary import PublishedColumns, SummaryContext, render_summary, write_results_csv
from .plan import (
    PlannedRun,
    RunOutcome,
    available_cores,
    config_matches,
    is_done,
    plan_runs,
    resumable,
    threads_per_run,
)
from .progress import GridProgress
from .suite import Suite
from .workers import BenchmarkInterrupted, _prepare, _run_in_process, _signals_raise, _Stop, _Workers, _write_config

DEFAULT_GRIDS_DIR = Path("runs") / "grids"  # where grids go without --out (runs/ is not tracked)


@dataclass
class BenchmarkReport:
    out: Path
    planned: list[PlannedRun]  # the whole grid (summary scope)
    selected: list[PlannedRun]  # after --methods / --seeds / --variants
    skipped: list[PlannedRun] = field(default_factory=list)  # already finished
    outcomes: list[RunOutcome] = field(default_factory=list)
    stale: list[PlannedRun] = field(default_factory=list)
    results_csv: Path | None = None
    summary_md: Path | None = None

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if not o.ok]


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_description() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    return (
        f"{available_cores()} CPU cores available ({os.cpu_count()} total, {cpu}), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, torch {torch.__version__}"
    )


@contextlib.contextmanager
def _directory_lock(out: Path) -> Iterator[None]:
    """One `textmtl benchmark` per output directory at a time."""
    with file_lock(out / ".lock", blocking=False) as held:
        if not held:
            raise ConfigError(f"{out}: another `textmtl benchmark` is running in this directory")
        yield


# ------------------------------------------------------------------------------------ main entry


def run_benchmark(
    suite: Suite,
    *,
    quick: bool = False,
    out: str | Path | None = None,
    workers: int = 1,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    variants: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    dry_run: bool = False,
    console: Console | None = None,
    command: str | None = None,
    bundle: str | Path | None = None,
    seed_major: bool = False,
) -> BenchmarkReport:
    """Train the grid's missing runs and write results.csv and summary.md.

    `workers` >= 1: that many `textmtl train` subprocesses at a time, each with
    `training.num_threads = max(1, cores // workers)` unless the suite sets it. `workers = 0`
    trains in this process, one run after the other (no isolation; for debugging and tests).
    `bundle`: restore finished runs from it and add each run to it as it finishes (module docstring).
    `seed_major`: train every run of the first seed before any of the next (instead of the suite's
    variant, method, seed order), so a grid stopped early holds whole seeds.
    """
    console = console or Console(stderr=True)
    if workers < 0:
        raise ConfigError(f"--workers: expected 0 or more, got {workers}")
    out = Path(out) if out is not None else DEFAULT_GRIDS_DIR / (suite.name + ("-quick" if quick else ""))
    out = out.resolve()
    runs_dir = out / "runs"
    data_dir = Path(data_dir).expanduser().resolve() if data_dir is not None else None
    planned, selected = plan_runs(suite, quick=quick, methods=methods, seeds=seeds, variants=variants)
    report = BenchmarkReport(out, planned, selected)
    bundle_path = Path(bundle).resolve() if bundle is not None else None
    in_bundle = _bundled_names(bundle_path, planned, runs_dir)
    done = {r.name for r in planned if is_done(runs_dir / r.name)} | in_bundle
    report.stale = [r for r in selected if is_done(runs_dir / r.name) and not config_matches(r, runs_dir / r.name)]
    report.skipped = [r for r in selected if r.name in done]
    todo = [r for r in selected if r.name not in done]
    if seed_major:  # a stable sort: within a seed the suite's order stays
        seed_order = list(dict.fromkeys(r.seed for r in planned))
        todo.sort(key=lambda r: seed_order.index(r.seed))
    title = f"{suite.name}{' (quick)' if quick else ''}"

    if dry_run:
        _print_plan(console, title, planned, selected, done, report.stale, runs_dir, workers)
        return report

    out.mkdir(parents=True, exist_ok=True)
    for sub in ("runs", "configs", "logs"):
        (out / sub).mkdir(exist_ok=True)
    if report.stale:
        console.print(
            f"[yellow]warning:[/] {len(report.stale)} finished run(s) were trained with a different "
            f"config than the suite gives now and are kept as they are (delete them to retrain): "
            f"{', '.join(r.name for r in report.stale)}",
            highlight=False,
        )
    with _directory_lock(out):
        if bundle_path is not None and in_bundle:  # under the lock: no other benchmark writes runs/ now
            _restore(bundle_path, in_bundle, runs_dir)
            console.print(f"restored {len(in_bundle)} finished run(s) from {bundle_path}", highlight=False)
        if bundle_path is not None:  # what was finished here before the bundle was named goes in too
            _save(bundle_path, [runs_dir / n for n in sorted(done)])
        prior = [_wall_seconds(runs_dir / n) for n in done]
        progress = GridProgress(
            console, title, len(selected), len(report.skipped), workers, [p for p in prior if p is not None], runs_dir
        )
        progress.pending = len(todo)
        pool = _Workers(out, runs_dir, data_dir, workers) if workers > 0 else None
        stop_signal: int | None = None
        stopped: list[str] = []
        try:
            with _signals_raise():
                try:
                    _execute(todo, pool, progress, report, out, runs_dir, data_dir, workers, bundle_path)
                except _Stop as stop:
                    stop_signal = stop.signum
                except KeyboardInterrupt:
                    stop_signal = signal.SIGINT
        finally:  # normal end, a signal, or an error in the runner itself: no worker outlives us
            if pool is not None:
                stopped = pool.stop_all()
            progress.stop()
        if stop_signal is not None and pool is None:  # in-process: textmtl.train removed its .partial
            stopped = list(progress.running)
        _finish(report, suite, quick, planned, runs_dir, out, command, console)
        if stop_signal is not None:
            raise BenchmarkInterrupted(stop_signal, stopped)
    return report


def _execute(
    todo: list[PlannedRun],
    pool: _Workers | None,
    progress: GridProgress,
    report: BenchmarkReport,
    out: Path,
    runs_dir: Path,
    data_dir: Path | None,
    workers: int,
    bundle_path: Path | None = None,
) -> None:
    def finished(outcome: RunOutcome) -> None:
        report.outcomes.append(outcome)
        if bundle_path is not None and outcome.ok and is_done(runs_dir / outcome.run.name):
            _save(bundle_path, [runs_dir / outcome.run.name])
        progress.finished(outcome)

    queue = deque(todo)
    if pool is None:
        while queue:
            run = queue.popleft()
            threads = threads_per_run(run, 0)
            resume = _prepare(run, runs_dir)
            _, data = _write_config(run, out, runs_dir, threads)
            progress.started(run, resume is not None)
            finished(_run_in_process(run, data, runs_dir, data_dir, out, resume))
        return
    last_refresh = 0.0
    while queue or pool.procs:
        while queue and len(pool.procs) < workers:
            run = queue.popleft()
            threads = threads_per_run(run, workers)
            resume = _prepare(run, runs_dir)
            path, _ = _write_config(run, out, runs_dir, threads)
            pool.start(run, path, threads, resume)
            progress.started(run, resume is not None)
        for outcome in pool.poll():
            finished(outcome)
        if time.monotonic() - last_refresh > 1.0:
            progress.refresh()
            last_refresh = time.monotonic()
        time.sleep(0.1)


def _bundled_names(bundle_path: Path | None, planned: Sequence[PlannedRun], runs_dir: Path) -> set[str]:
    """The planned runs that `bundle_path` holds and `runs_dir` has not finished."""
    from ..reporting import bundle

    if bundle_path is None or not bundle_path.is_file():
        return set()
    held = set(bundle.names(bundle_path))
    return {r.name for r in planned if r.name in held and not is_done(runs_dir / r.name)}


def _restore(bundle_path: Path, names: set[str], runs_dir: Path) -> None:
    from ..reporting import bundle

    runs_dir.mkdir(parents=True, exist_ok=True)
    for name in names:  # a killed try of a run the bundle has finished is not resumed
        shutil.rmtree(runs_dir / f"{name}.partial", ignore_errors=True)
    bundle.unpack(bundle_path, runs_dir, only=names)


def _save(bundle_path: Path, run_dirs: list[Path]) -> None:
    from ..reporting import bundle

    bundle_path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(bundle_path.with_name(bundle_path.name + ".lock")):
        bundle.update(run_dirs, bundle_path, root=Path.cwd())


def _wall_seconds(run_dir: Path) -> float | None:
    try:
        return float(json.loads((run_dir / "metrics.json").read_text())["wall_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def collect_rows(suite_name: str, planned: Sequence[PlannedRun], runs_dir: Path, out: Path) -> list[dict]:
    """One row per finished run and task (the task's main metric: the first metric in metrics.json)."""
    rows = []
    for run in planned:
        path = runs_dir / run.name / "metrics.json"
        if not path.is_file():
            continue
        try:
            metrics = json.loads(path.read_text())
        except ValueError:
            continue
        for task, scores in metrics.get("tasks", {}).items():
            test, dev = scores.get("test") or {}, scores.get("dev") or {}
            names = list(test or dev)
            if not names:
                continue
            metric = names[0]
            rows.append(
                {
                    "suite": suite_name,
                    "variant": run.variant,
                    "method": run.method,
                    "seed": run.seed,
                    "task": task,
                    "metric": metric,
                    "dev": dev.get(metric, math.nan),
                    "test": test.get(metric, math.nan),
                    "wall_seconds": metrics.get("wall_seconds", math.nan),
                    "steps": metrics.get("steps"),
                    "run_dir": str((runs_dir / run.name).relative_to(out)),
                }
            )
    return rows


def summary_context(suite: Suite, quick: bool, planned: Sequence[PlannedRun], command: str | None) -> SummaryContext:
    grid_planned: dict[tuple[str, str], list[int]] = {}
    for r in planned:
        grid_planned.setdefault((r.variant, r.method), []).append(r.seed)
    variants = list(dict.fromkeys(r.variant for r in planned))
    methods = [m for m in suite.methods if any(r.method == m for r in planned)]
    origin = "shipped with textmtl" if suite.builtin else suite.source
    header = {
        "command": f"`{command}`" if command else "(Python API)",
        "suite": f"{suite.name}{' --quick' if quick else ''} ({origin})",
        "git commit": git_commit(),
        "machine": machine_description(),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    published = [PublishedColumns(p.table, dict(p.columns), list(p.extra_columns), p.variants) for p in suite.published]
    return SummaryContext(
        suite.name,
        methods,
        variants,
        suite.has_variants,
        suite.reference,
        quick,
        suite.description,
        header,
        published,
        grid_planned,
    )


def _finish(
    report: BenchmarkReport,
    suite: Suite,
    quick: bool,
    planned: Sequence[PlannedRun],
    runs_dir: Path,
    out: Path,
    command: str | None,
    console: Console,
) -> None:
    rows = collect_rows(suite.name, planned, runs_dir, out)
    report.results_csv = out / "results.csv"
    write_results_csv(rows, report.results_csv)
    text = render_summary(rows, summary_context(suite, quick, planned, command))
    report.summary_md = out / "summary.md"
    atomic_write_text(report.summary_md, text)


def _print_plan(
    console: Console,
    title: str,
    planned: list[PlannedRun],
    selected: list[PlannedRun],
    done: set[str],
    stale: list[PlannedRun],
    runs_dir: Path,
    workers: int,
) -> None:
    stale_names = {r.name for r in stale}
    table = Table(title=f"{title}: {len(selected)} run(s) selected of {len(planned)} in the grid")
    for col in ("run", "variant", "method", "seed", "status"):
        table.add_column(col)
    for r in selected:
        if r.name in done:
            status = "done (config differs from the suite now)" if r.name in stale_names else "done: skip"
        elif resumable(r, runs_dir) is not None:
            status = "partial: resume"
        elif (runs_dir / f"{r.name}.partial").exists():
            status = "partial: redo"
        else:
            status = "to run"
        threads = threads_per_run(r, workers)
        table.add_row(
            r.name,
            r.variant,
            r.method,
            str(r.seed),
            status
            + (
                f" ({threads} thread{'s' if threads != 1 else ''})"
                if status.startswith(("to run", "partial")) and threads
                else ""
            ),
        )
    console.print(table)
    todo = sum(1 for r in selected if r.name not in done)
    console.print(f"{todo} to train, {len(selected) - todo} already done; output: {runs_dir.parent}", highlight=False)


__all__ = [
    "PlannedRun",
    "RunOutcome",
    "BenchmarkReport",
    "BenchmarkInterrupted",
    "plan_runs",
    "run_benchmark",
    "collect_rows",
    "config_matches",
    "available_cores",
    "threads_per_run",
]

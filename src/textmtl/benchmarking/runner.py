"""Run a benchmark grid: plan, skip finished runs, train the rest in worker processes, then
write `results.csv` and `summary.md`.

Layout of the output directory (default `benchmarks/<suite>/`, `benchmarks/<suite>-quick/`):

    configs/<run>.yaml    the complete config of each run (what the worker trains)
    logs/<run>.log        the worker's output
    runs/<run>/           the run directory written by `textmtl.train` (metrics.json, ...)
    results.csv           one row per finished run and task
    summary.md            the tables

Resuming: a run whose `runs/<run>/metrics.json` exists is done and skipped. A leftover
`runs/<run>.partial/` (a crashed or killed run) continues from its last checkpoint
(`textmtl train --resume`) when it has one and its config is the one the suite gives now;
otherwise it is deleted and the run redone. Workers are
`textmtl train` subprocesses in their own sessions; SIGINT / SIGTERM to the benchmark stops
them (SIGTERM, then SIGKILL), which leaves only `.partial` directories behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import yaml
from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..config import same_run, validate_config
from ..files import atomic_write_text, file_lock
from ..errors import ConfigError, TextmtlError
from ..training.checkpoint import has_checkpoint
from ..reporting.grid_summary import PublishedColumns, SummaryContext, render_summary, write_results_csv
from .suite import Suite



class BenchmarkInterrupted(TextmtlError):
    """SIGINT or SIGTERM stopped the benchmark; running workers were killed."""

    def __init__(self, signum: int, stopped: list[str]) -> None:
        self.signum = signum
        self.stopped = stopped
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f"{name}: stopped {len(stopped)} running run(s) ({', '.join(stopped) or 'none'}); "
                         "the next invocation continues them from their last checkpoint "
                         "(or redoes them if they have none)")


class _Stop(BaseException):
    def __init__(self, signum: int) -> None:
        self.signum = signum


@dataclass
class PlannedRun:
    variant: str
    method: str
    seed: int
    name: str
    config: dict[str, Any]  # complete run config except output.runs_dir / training.num_threads


@dataclass
class RunOutcome:
    run: PlannedRun
    ok: bool
    seconds: float
    message: str = ""


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


# ------------------------------------------------------------------------------------ planning


def plan_runs(suite: Suite, *, quick: bool = False, methods: Sequence[str] | None = None,
              seeds: Sequence[int] | None = None, variants: Sequence[str] | None = None
              ) -> tuple[list[PlannedRun], list[PlannedRun]]:
    """(the grid, the runs selected by the filters). A filter may name a method or variant of the
    suite outside the quick grid, or any seed; those runs join the grid."""
    gv, gm, gs = suite.grid(quick)
    for option, values, known in (("--methods", methods, list(suite.methods)),
                                  ("--variants", variants, list(suite.variants))):
        for v in values or []:
            if v not in known:
                import difflib

                close = difflib.get_close_matches(v, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"{option}: '{v}' is not in suite {suite.name}{hint}; known: {', '.join(known)}")
    sv, sm, ss = list(variants or gv), list(methods or gm), list(seeds or gs)

    def make(v: str, m: str, s: int) -> PlannedRun:
        return PlannedRun(v, m, s, _name(suite, v, m, s), suite.run_config(v, m, s, quick=quick))

    grid = {(v, m, s) for v in gv for m in gm for s in gs}
    selected_keys = [(v, m, s) for v in sv for m in sm for s in ss]
    # the grid in suite order: variants, then methods, then seeds; filter additions appended in place
    all_v = list(dict.fromkeys([*gv, *sv]))
    all_m = [m for m in suite.methods if m in set(gm) | set(sm)]
    all_s = list(dict.fromkeys([*gs, *ss]))
    keys = [(v, m, s) for v in all_v for m in all_m for s in all_s if (v, m, s) in grid or (v, m, s) in selected_keys]
    planned = [make(*k) for k in keys]
    chosen = set(selected_keys)
    return planned, [r for r in planned if (r.variant, r.method, r.seed) in chosen]


def _name(suite: Suite, v: str, m: str, s: int) -> str:
    from .suite import run_name

    return run_name(suite, v, m, s)


def is_done(run_dir: Path) -> bool:
    return (run_dir / "metrics.json").is_file()


def resumable(run: PlannedRun, runs_dir: Path) -> Path | None:
    """The run's `.partial` directory if it holds a checkpoint and was started with the config the
    suite gives now (a resume then ends as an uninterrupted run would); else None."""
    partial = runs_dir / f"{run.name}.partial"
    if has_checkpoint(partial / "checkpoint") and not (runs_dir / run.name).exists() and config_matches(run, partial):
        return partial
    return None


def config_matches(run: PlannedRun, run_dir: Path) -> bool:
    """Was the finished run trained with the config the suite gives now (`config.identity`)?"""
    try:
        stored = yaml.safe_load((run_dir / "config.yaml").read_text())
        return same_run(stored, run.config)
    except (OSError, yaml.YAMLError, TextmtlError):
        return False


# ------------------------------------------------------------------------------------ helpers


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_run(run: PlannedRun, workers: int) -> int | None:
    """The suite's `training.num_threads` if it sets one, else max(1, cores // workers)
    (None with workers = 0: in-process runs keep the process's setting)."""
    suite_value = (run.config.get("training") or {}).get("num_threads")
    if suite_value:
        return int(suite_value)
    return None if workers == 0 else max(1, available_cores() // workers)


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_description() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    return (f"{available_cores()} CPU cores available ({os.cpu_count()} total, {cpu}), {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, torch {torch.__version__}")


@contextlib.contextmanager
def _directory_lock(out: Path) -> Iterator[None]:
    """One `textmtl benchmark` per output directory at a time."""
    with file_lock(out / ".lock", blocking=False) as held:
        if not held:
            raise ConfigError(f"{out}: another `textmtl benchmark` is running in this directory")
        yield


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


# ------------------------------------------------------------------------------------ progress


class GridProgress:
    """Runs done / total, the running runs (elapsed, last evaluation), ETA from finished runs'
    wall times. A live display on a terminal, one line per event otherwise."""

    def __init__(self, console: Console, title: str, total: int, done_before: int, workers: int,
                 prior_seconds: list[float], runs_dir: Path) -> None:
        self.console, self.title, self.total, self.workers = console, title, total, max(1, workers)
        self.done_before, self.done, self.failed = done_before, 0, 0
        self.durations: list[float] = []
        self.prior = prior_seconds  # wall_seconds of runs finished before this invocation
        self.running: dict[str, float] = {}
        self.pending = 0
        self.runs_dir = runs_dir
        self.live = None
        if console.is_terminal:
            from rich.live import Live

            # no refresh thread with subprocess workers: forking while another thread runs is unsafe
            self.live = Live(self._render(), console=console, refresh_per_second=2, transient=False,
                             auto_refresh=workers == 0)
            self.live.start()

    def _mean_seconds(self) -> float | None:
        values = self.durations or self.prior
        return sum(values) / len(values) if values else None

    def eta(self) -> float | None:
        mean = self._mean_seconds()
        if mean is None:
            return None
        now = time.monotonic()
        left = self.pending * mean + sum(max(mean - (now - t0), 0.0) for t0 in self.running.values())
        return left / self.workers

    def _status(self, name: str) -> str:
        partial = self.runs_dir / f"{name}.partial"
        if not partial.is_dir():
            return "saving" if (self.runs_dir / name).is_dir() else "loading data"
        last = _last_line(partial / "history.jsonl")
        if not last:
            return "training"
        try:
            rec = json.loads(last)
        except ValueError:
            return ""
        dev = rec.get("dev_average")
        dev_text = f"  dev {100 * dev:.2f}" if isinstance(dev, (int, float)) and math.isfinite(dev) else ""
        job = rec.get("job", "")
        return f"{job} step {rec.get('step')} (epoch {rec.get('epoch', 0):.1f}){dev_text}"

    def _headline(self) -> str:
        finished = self.done_before + self.done
        parts = [f"{self.title}: {finished}/{self.total} runs done"]
        if self.done_before:
            parts.append(f"{self.done_before} from earlier")
        parts.append(f"{len(self.running)} running")
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append(f"ETA {_fmt_duration(self.eta())}")
        return ", ".join(parts)

    def _render(self):
        bar = ProgressBar(total=max(self.total, 1), completed=self.done_before + self.done + self.failed)
        table = Table(box=None, show_header=bool(self.running), pad_edge=False)
        table.add_column("running")
        table.add_column("elapsed", justify="right")
        table.add_column("last evaluation")
        now = time.monotonic()
        for name, t0 in self.running.items():
            table.add_row(name, _fmt_duration(now - t0), self._status(name))
        return Group(Text(self._headline(), style="bold"), bar, table)

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render(), refresh=True)

    def started(self, run: PlannedRun, resumed: bool = False) -> None:
        self.running[run.name] = time.monotonic()
        self.pending = max(0, self.pending - 1)
        if self.live is None:
            self.console.print(f"{'resume' if resumed else 'start'} {run.name}", highlight=False)
        self.refresh()

    def finished(self, outcome: RunOutcome) -> None:
        self.running.pop(outcome.run.name, None)
        if outcome.ok:
            self.done += 1
            self.durations.append(outcome.seconds)
            text = f"done  {outcome.run.name} in {_fmt_duration(outcome.seconds)}"
        else:
            self.failed += 1
            text = f"[red]failed[/] {outcome.run.name}: {outcome.message}"
        line = f"{text}  ({self._headline()})" if self.live is None else text
        self.console.print(line, highlight=False)
        self.refresh()

    def stop(self) -> None:
        if self.live is not None:
            self.live.update(self._render(), refresh=True)
            self.live.stop()
            self.live = None


# ------------------------------------------------------------------------------------ execution


class _Workers:
    """`textmtl train` subprocesses, one per run, each in its own session."""

    def __init__(self, out: Path, runs_dir: Path, data_dir: Path | None, workers: int) -> None:
        self.out, self.runs_dir, self.data_dir, self.workers = out, runs_dir, data_dir, workers
        self.procs: dict[str, tuple[subprocess.Popen, PlannedRun, float, IO]] = {}
        self._prctl = None
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError):
                import ctypes

                self._prctl = ctypes.CDLL(None, use_errno=True).prctl

    def _die_with_parent(self) -> None:  # runs in the child between fork and exec
        if self._prctl is not None:
            self._prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the worker gets SIGTERM if we die

    def start(self, run: PlannedRun, config_path: Path, threads: int | None, resume: Path | None = None) -> None:
        if resume is None:
            cmd = [sys.executable, "-m", "textmtl", "train", str(config_path), "--name", run.name,
                   "--runs-dir", str(self.runs_dir), "--quiet"]
        else:  # the run's own config.yaml; only the thread count may change
            cmd = [sys.executable, "-m", "textmtl", "train", "--resume", str(resume), "--quiet"]
            if threads is not None:
                cmd += ["--set", f"training.num_threads={threads}"]
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        env = dict(os.environ)
        if threads is not None:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        log = open(self.out / "logs" / f"{run.name}.log", "a" if resume is not None else "w", encoding="utf-8")
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True, preexec_fn=self._die_with_parent)
        self.procs[run.name] = (proc, run, time.monotonic(), log)

    def poll(self) -> list[RunOutcome]:
        done = []
        for name, (proc, run, t0, log) in list(self.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            log.close()
            del self.procs[name]
            seconds = time.monotonic() - t0
            ok = code == 0 and is_done(self.runs_dir / name)
            message = "" if ok else (_last_line(self.out / "logs" / f"{name}.log") or f"exit code {code}")
            done.append(RunOutcome(run, ok, seconds, message))
        return done

    def stop_all(self, grace: float = 10.0) -> list[str]:
        """SIGTERM every worker's process group, SIGKILL what is left after `grace` seconds."""
        names = list(self.procs)
        for proc, _, _, _ in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc, _, _, log in self.procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
        self.procs.clear()
        return names


def _prepare(run: PlannedRun, runs_dir: Path) -> Path | None:
    """The `.partial` directory to resume, if there is one (see `resumable`); otherwise remove what
    a crashed or killed attempt left behind and return None."""
    partial = resumable(run, runs_dir)
    if partial is not None:
        return partial
    shutil.rmtree(runs_dir / f"{run.name}.partial", ignore_errors=True)
    final = runs_dir / run.name
    if final.exists() and not is_done(final):
        shutil.rmtree(final, ignore_errors=True)
    return None


def _write_config(run: PlannedRun, out: Path, runs_dir: Path, threads: int | None) -> tuple[Path, dict]:
    data = json.loads(json.dumps(run.config))  # deep copy
    data.setdefault("output", {})["runs_dir"] = str(runs_dir)
    if threads is not None:
        data.setdefault("training", {})["num_threads"] = threads
    validate_config(data, f"run {run.name}")
    path = out / "configs" / f"{run.name}.yaml"
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
    return path, data


def _run_in_process(run: PlannedRun, data: dict, runs_dir: Path, data_dir: Path | None, out: Path,
                    resume: Path | None = None) -> RunOutcome:
    from ..training.lifecycle import train

    t0 = time.monotonic()
    try:
        if resume is None:
            train(data, name=run.name, runs_dir=runs_dir, data_dir=data_dir, progress=False)
        else:
            threads = data["training"].get("num_threads")
            train(overrides=[f"training.num_threads={threads}"] if threads else None, data_dir=data_dir,
                  progress=False, resume=resume)
    except TextmtlError as exc:
        (out / "logs" / f"{run.name}.log").write_text(f"error: {exc}\n")
        return RunOutcome(run, False, time.monotonic() - t0, str(exc))
    except Exception as exc:  # a bug in one run should not stop the grid
        (out / "logs" / f"{run.name}.log").write_text(traceback.format_exc())
        return RunOutcome(run, False, time.monotonic() - t0, f"{type(exc).__name__}: {exc}")
    return RunOutcome(run, is_done(runs_dir / run.name), time.monotonic() - t0)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGINT / SIGTERM into a `_Stop` exception in the main thread while the grid runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Stop(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


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
) -> BenchmarkReport:
    """Train the grid's missing runs and write results.csv and summary.md.

    `workers` >= 1: that many `textmtl train` subprocesses at a time, each with
    `training.num_threads = max(1, cores // workers)` unless the suite sets it. `workers = 0`
    trains in this process, one run after the other (no isolation; for debugging and tests).
    """
    console = console or Console(stderr=True)
    if workers < 0:
        raise ConfigError(f"--workers: expected 0 or more, got {workers}")
    out = Path(out) if out is not None else Path("benchmarks") / (suite.name + ("-quick" if quick else ""))
    out = out.resolve()
    runs_dir = out / "runs"
    data_dir = Path(data_dir).expanduser().resolve() if data_dir is not None else None
    planned, selected = plan_runs(suite, quick=quick, methods=methods, seeds=seeds, variants=variants)
    report = BenchmarkReport(out, planned, selected)
    done = {r.name for r in planned if is_done(runs_dir / r.name)}
    report.stale = [r for r in selected if r.name in done and not config_matches(r, runs_dir / r.name)]
    report.skipped = [r for r in selected if r.name in done]
    todo = [r for r in selected if r.name not in done]
    title = f"{suite.name}{' (quick)' if quick else ''}"

    if dry_run:
        _print_plan(console, title, planned, selected, done, report.stale, runs_dir, workers)
        return report

    out.mkdir(parents=True, exist_ok=True)
    for sub in ("runs", "configs", "logs"):
        (out / sub).mkdir(exist_ok=True)
    if report.stale:
        console.print(f"[yellow]warning:[/] {len(report.stale)} finished run(s) were trained with a different "
                      f"config than the suite gives now and are kept as they are (delete them to retrain): "
                      f"{', '.join(r.name for r in report.stale)}", highlight=False)
    with _directory_lock(out):
        prior = [_wall_seconds(runs_dir / n) for n in done]
        progress = GridProgress(console, title, len(selected), len(report.skipped), workers,
                                [p for p in prior if p is not None], runs_dir)
        progress.pending = len(todo)
        pool = _Workers(out, runs_dir, data_dir, workers) if workers > 0 else None
        stop_signal: int | None = None
        stopped: list[str] = []
        try:
            with _signals_raise():
                try:
                    _execute(todo, pool, progress, report, out, runs_dir, data_dir, workers)
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


def _execute(todo: list[PlannedRun], pool: _Workers | None, progress: GridProgress, report: BenchmarkReport,
             out: Path, runs_dir: Path, data_dir: Path | None, workers: int) -> None:
    queue = deque(todo)
    if pool is None:
        while queue:
            run = queue.popleft()
            threads = threads_per_run(run, 0)
            resume = _prepare(run, runs_dir)
            _, data = _write_config(run, out, runs_dir, threads)
            progress.started(run, resume is not None)
            outcome = _run_in_process(run, data, runs_dir, data_dir, out, resume)
            report.outcomes.append(outcome)
            progress.finished(outcome)
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
            report.outcomes.append(outcome)
            progress.finished(outcome)
        if time.monotonic() - last_refresh > 1.0:
            progress.refresh()
            last_refresh = time.monotonic()
        time.sleep(0.1)


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
            rows.append({
                "suite": suite_name, "variant": run.variant, "method": run.method, "seed": run.seed,
                "task": task, "metric": metric, "dev": dev.get(metric, math.nan), "test": test.get(metric, math.nan),
                "wall_seconds": metrics.get("wall_seconds", math.nan), "steps": metrics.get("steps"),
                "run_dir": str((runs_dir / run.name).relative_to(out)),
            })
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
    published = [PublishedColumns(p.table, dict(p.columns), list(p.extra_columns), p.variants)
                 for p in suite.published]
    return SummaryContext(suite.name, methods, variants, suite.has_variants, suite.reference, quick,
                          suite.description, header, published, grid_planned)


def _finish(report: BenchmarkReport, suite: Suite, quick: bool, planned: Sequence[PlannedRun], runs_dir: Path,
            out: Path, command: str | None, console: Console) -> None:
    rows = collect_rows(suite.name, planned, runs_dir, out)
    report.results_csv = out / "results.csv"
    write_results_csv(rows, report.results_csv)
    text = render_summary(rows, summary_context(suite, quick, planned, command))
    report.summary_md = out / "summary.md"
    atomic_write_text(report.summary_md, text)


def _print_plan(console: Console, title: str, planned: list[PlannedRun], selected: list[PlannedRun],
                done: set[str], stale: list[PlannedRun], runs_dir: Path, workers: int) -> None:
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
        table.add_row(r.name, r.variant, r.method, str(r.seed),
                      status + (f" ({threads} thread{'s' if threads != 1 else ''})"
                                if status.startswith(("to run", "partial")) and threads else ""))
    console.print(table)
    todo = sum(1 for r in selected if r.name not in done)
    console.print(f"{todo} to train, {len(selected) - todo} already done; output: {runs_dir.parent}",
                  highlight=False)


__all__ = ["PlannedRun", "RunOutcome", "BenchmarkReport", "BenchmarkInterrupted", "plan_runs", "run_benchmark",
           "collect_rows", "config_matches", "available_cores", "threads_per_run"]

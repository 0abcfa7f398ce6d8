"""The live view of a running grid: runs done, the running runs and their last evaluation, an ETA."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .plan import PlannedRun, RunOutcome


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

    def __init__(
        self,
        console: Console,
        title: str,
        total: int,
        done_before: int,
        workers: int,
        prior_seconds: list[float],
        runs_dir: Path,
    ) -> None:
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
            self.live = Live(
                self._render(), console=console, refresh_per_second=2, transient=False, auto_refresh=workers == 0
            )
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

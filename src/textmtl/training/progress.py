"""Progress reporting: a rich progress bar with per-task loss and an ETA, or nothing."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class Reporter:
    """No output; the base of every reporter."""

    def start(self, total_steps: int, label: str) -> None: ...

    def update(self, step: int, losses: Mapping[str, float]) -> None: ...

    def evaluated(self, step: int, dev_average: float, best: float) -> None: ...

    def finish(self) -> None: ...

    def message(self, text: str) -> None: ...


class RichReporter(Reporter):
    """One progress bar per training job: step count, elapsed, ETA, mean loss, dev score, and per-task loss."""

    def __init__(self, console: Console | None = None, max_tasks_shown: int = 16) -> None:
        self.console = console or Console(stderr=True)
        self.max_tasks_shown = max_tasks_shown
        self.progress: Progress | None = None
        self.task_id = None
        self.dev = "-"

    def start(self, total_steps: int, label: str) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[summary]}"), TextColumn("\n  {task.fields[per_task]}", style="dim"),
            console=self.console, transient=False, refresh_per_second=4,
        )
        self.progress.start()
        self.task_id = self.progress.add_task(label, total=total_steps, summary="", per_task="")

    def update(self, step: int, losses: Mapping[str, float]) -> None:
        if self.progress is None:
            return
        mean = sum(losses.values()) / max(len(losses), 1)
        shown = list(losses.items())[: self.max_tasks_shown]
        per_task = "  ".join(f"{t[:10]} {v:.3f}" for t, v in shown)
        self.progress.update(self.task_id, completed=step, summary=f"loss {mean:.4f}  dev {self.dev}",
                             per_task=per_task)

    def evaluated(self, step: int, dev_average: float, best: float) -> None:
        self.dev = f"{dev_average:.4f} (best {best:.4f})"

    def message(self, text: str) -> None:
        (self.progress.console if self.progress else self.console).print(text)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

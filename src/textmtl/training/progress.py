"""Progress reporting: a rich progress bar with per-task loss and an ETA, or nothing."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text


class Reporter:
    """No output; the base of every reporter."""

    def start(self, total_steps: int, label: str) -> None: ...

    def update(self, step: int, losses: Mapping[str, float]) -> None: ...

    def evaluated(self, step: int, dev_average: float, best: float) -> None: ...

    def finish(self) -> None: ...

    def message(self, text: str) -> None: ...


class RichReporter(Reporter):
    """A progress bar (steps, elapsed, ETA) with, below it, the mean and per-task training loss
    (exponential moving averages) and the last and best dev average."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live: Live | None = None
        self.dev = "-"

    def start(self, total_steps: int, label: str) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            expand=True,
        )
        self.task_id = self.progress.add_task(label, total=total_steps)
        self.dev = "-"
        self.live = Live(self.progress, console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def update(self, step: int, losses: Mapping[str, float]) -> None:
        if self.live is None:
            return
        mean = sum(losses.values()) / max(len(losses), 1)
        per_task = "  ".join(f"{t} {v:.3f}" for t, v in losses.items())
        self.progress.update(self.task_id, completed=step)
        status = Text.assemble(f"loss {mean:.4f}   dev {self.dev}\n", (per_task, "dim"))
        self.live.update(Group(self.progress, status))

    def evaluated(self, step: int, dev_average: float, best: float) -> None:
        self.dev = f"{dev_average:.4f} (best {best:.4f})"

    def message(self, text: str) -> None:
        self.console.print(text)

    def finish(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

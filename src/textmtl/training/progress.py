"""Progress reporting: a rich progress bar with per-task loss and an ETA on a terminal, plain lines
when stderr is a file or a pipe (CI, SLURM logs), or nothing."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text


def _losses_text(losses: Mapping[str, float]) -> tuple[float, str]:
    mean = sum(losses.values()) / max(len(losses), 1)
    return mean, "  ".join(f"{t} {v:.3f}" for t, v in losses.items())


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
        self.console = console or Console(stderr=True, emoji=False)
        self.live: Live | None = None
        self.dev = "-"
        self.losses: Mapping[str, float] = {}

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
        self.losses = dict(losses)
        self.progress.update(self.task_id, completed=step)
        self._show()

    def _show(self) -> None:
        if self.live is None:
            return
        mean, per_task = _losses_text(self.losses)
        status = Text.assemble(f"loss {mean:.4f}   dev {self.dev}\n", (per_task, "dim"))
        self.live.update(Group(self.progress, status), refresh=True)

    def evaluated(self, step: int, dev_average: float, best: float) -> None:
        self.dev = f"{dev_average:.4f} (best {best:.4f})"
        self._show()  # the last evaluation is on screen even when no step follows it

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def finish(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


class PlainReporter(Reporter):
    """Plain lines for logs (stderr not a terminal): the losses every `every` steps, each
    evaluation (the last one included), the start and the end of each training job."""

    def __init__(self, console: Console | None = None, every: int = 50) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True, emoji=False, markup=False)
        self.every = max(1, every)
        self.total = 0
        self.label = ""
        self.start_time = 0.0

    def start(self, total_steps: int, label: str) -> None:
        import time

        self.total, self.label, self.start_time = total_steps, label, time.perf_counter()
        self.console.print(f"{label}: {total_steps} steps")

    def _prefix(self, step: int) -> str:
        import time

        elapsed = time.perf_counter() - self.start_time
        return f"{self.label} step {step}/{self.total} ({elapsed:.0f}s)"

    def update(self, step: int, losses: Mapping[str, float]) -> None:
        if step % self.every == 0 or step == self.total:
            mean, per_task = _losses_text(losses)
            self.console.print(f"{self._prefix(step)} loss {mean:.4f}  {per_task}")

    def evaluated(self, step: int, dev_average: float, best: float) -> None:
        self.console.print(f"{self._prefix(step)} dev {dev_average:.4f} (best {best:.4f})")

    def message(self, text: str) -> None:
        self.console.print(text)

    def finish(self) -> None:
        import time

        self.console.print(f"{self.label}: done in {time.perf_counter() - self.start_time:.1f}s")

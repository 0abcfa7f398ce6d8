"""The command-line application, its consoles and what several commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..errors import TextmtlError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Multi-task learning for NLP.")
data_app = typer.Typer(no_args_is_help=True, help="Benchmarks: where they are and whether they are intact.")
app.add_typer(data_app, name="data")
# no emoji codes: a task named `x:books:y` prints as given, not with a book picture
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)

DataDir = Annotated[
    Optional[Path], typer.Option("--data-dir", help="Data folder (else $TEXTMTL_DATA_DIR, else ~/.cache/textmtl).")
]


def metrics_table(metrics: dict, title: str) -> Table:
    """Per-task dev/test table with the task average as the last row."""
    table = Table(title=title)
    table.add_column("task")
    table.add_column("metric")
    table.add_column("dev", justify="right")
    table.add_column("test", justify="right")
    for task, scores in metrics["tasks"].items():
        names = list(scores.get("test") or scores.get("dev") or {})
        for i, name in enumerate(names):
            table.add_row(
                Text(task) if i == 0 else "",  # Text: a task name is never read as markup
                name,
                _fmt(scores.get("dev", {}).get(name)),
                _fmt(scores.get("test", {}).get(name)),
            )
    avg = metrics.get("average", {})
    table.add_section()
    table.add_row("[bold]average[/]", "main", _fmt(avg.get("dev")), _fmt(avg.get("test")))
    return table


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _csv_option(value: str | None, option: str, cast=str) -> list | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    try:
        return [cast(v) for v in items] or None
    except ValueError:
        raise TextmtlError(f"{option}: expected a comma-separated list of integers, got {value!r}") from None

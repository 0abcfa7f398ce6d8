"""The `textmtl` command line. Bad input prints one line and exits with code 2."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from .errors import TextmtlError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Multi-task learning for NLP.")
data_app = typer.Typer(no_args_is_help=True, help="Benchmarks: where they are and whether they are intact.")
app.add_typer(data_app, name="data")
out = Console()
err = Console(stderr=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data folder (else $TEXTMTL_DATA_DIR, else ~/.cache/textmtl).")]


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
            table.add_row(task if i == 0 else "", name, _fmt(scores.get("dev", {}).get(name)),
                          _fmt(scores.get("test", {}).get(name)))
    avg = metrics.get("average", {})
    table.add_section()
    table.add_row("[bold]average[/]", "main", _fmt(avg.get("dev")), _fmt(avg.get("test")))
    return table


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML run configuration.")],
    method: Annotated[Optional[str], typer.Option(help="Override the method (e.g. ls, stl).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the seed.")] = None,
    data_dir: DataDir = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (directory under runs/).")] = None,
    runs_dir: Annotated[Optional[Path], typer.Option(help="Where run directories go.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key: training.lr=0.01")] = None,
    skip_bad_lines: Annotated[bool, typer.Option(help="Skip (and count) malformed data lines instead of failing.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Train a multi-task model and write runs/<name>/."""
    from .api import train as run_training

    overrides = list(set_ or [])
    if method is not None:
        overrides.append(f"method={{name: {method}}}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    if skip_bad_lines:
        overrides.append("data.skip_bad_lines=true")
    result = run_training(config, overrides=overrides, data_dir=data_dir, name=name, runs_dir=runs_dir,
                          progress=not quiet)
    skipped = result.metrics.get("skipped_lines") or {}
    if skipped:
        err.print(f"skipped malformed lines: {', '.join(f'{t} {n}' for t, n in skipped.items())}")
    out.print(metrics_table(result.metrics, f"{result.metrics['method']} (seed {result.metrics['seed']})"))
    out.print(f"steps {result.metrics['steps']}  wall {result.metrics['wall_seconds']:.1f}s")
    out.print(f"run directory: {result.path}")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Re-score a run on the dev and test splits of its tasks."""
    from .api import evaluate as run_evaluate

    metrics = run_evaluate(run_dir, data_dir=data_dir)
    if as_json:
        out.print_json(json.dumps(metrics))
    else:
        out.print(metrics_table(metrics, str(run_dir)))


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    task: Annotated[str, typer.Option(help="Which task head to use.")],
    input: Annotated[Path, typer.Option("--input", help="One text per line (pair tasks: text<TAB>text_pair).")],
    output: Annotated[Optional[Path], typer.Option(help="Write predictions here (default: stdout).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 256,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Predict a label for every line of a file, streaming it: memory stays bounded whatever its size."""
    from .api import iter_predictions, prediction_spec
    from .data.line_stream import LineStream, prediction_inputs
    from .data.tasks import TaskKind
    from .training.run_directory import load_run

    stream = LineStream(input)
    run = load_run(run_dir)
    kind = prediction_spec(run, task).kind
    pair = {TaskKind.PAIR_CLASSIFICATION: True, TaskKind.CLASSIFICATION: False}.get(kind)
    progress = _byte_progress(stream.size, show=not quiet and err.is_terminal)
    bar = progress.add_task("predict", total=stream.size or None, lines=0)

    def tracked(items):
        n = 0
        for n, item in enumerate(items, start=1):
            if n % 512 == 0:
                progress.update(bar, completed=stream.bytes_read, lines=n)
            yield item
        progress.update(bar, completed=stream.bytes_read, lines=n)

    predictions = iter_predictions(run, task, tracked(prediction_inputs(stream, input, pair=pair)),
                                   batch_size=batch_size)
    if output is None:
        with progress:
            _write_lines(sys.stdout, predictions)
        return
    tmp = output.with_name(output.name + ".partial")
    try:
        fh = open(tmp, "w", encoding="utf-8")
    except OSError as exc:
        raise TextmtlError(f"{output}: cannot write predictions ({exc.strerror or exc})") from None
    try:
        with fh, progress:
            count = _write_lines(fh, predictions)
        tmp.replace(output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    err.print(f"wrote {count} predictions to {output}", highlight=False)


def _byte_progress(total: int, show: bool) -> Progress:
    """A bar of bytes read out of `total` (size, rate, lines, ETA) on stderr; invisible if not `show`."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(bar_width=None), DownloadColumn(), TransferSpeedColumn(),
        TextColumn("{task.fields[lines]} lines"), TextColumn("eta"), TimeRemainingColumn(),
        console=err, disable=not show, redirect_stdout=False, redirect_stderr=False, expand=True,
    )


def _write_lines(fh, values) -> int:
    """Write one value per line; returns how many. A closed pipe (`| head`) ends quietly."""
    count = 0
    try:
        for value in values:
            fh.write(f"{value}\n")
            count += 1
        fh.flush()
    except BrokenPipeError:
        if fh is not sys.stdout:
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        raise typer.Exit(0) from None
    return count


@data_app.command("list")
def data_list(data_dir: DataDir = None) -> None:
    """Each known benchmark, its tasks and split sizes, and whether it was found."""
    from .data.benchmarks import BENCHMARKS, resolve_data_dir

    root = resolve_data_dir(data_dir)
    out.print(f"data directory: {root}")
    for bench in BENCHMARKS.values():
        sizes = bench.split_sizes(root)
        table = Table(title=f"{bench.name}")
        for col in ("task", "found", "train", "dev", "test", "unlabelled"):
            table.add_column(col, justify="right" if col not in ("task", "found") else "left")
        for task in bench.task_names:
            s = sizes.get(task)
            if s is None:
                table.add_row(task, "[red]missing[/]", "-", "-", "-", "-")
            else:
                table.add_row(task, "[green]yes[/]", *(str(s.get(k, "-")) for k in ("train", "dev", "test", "unlabelled")))
        out.print(table)
        note = getattr(bench, "notes", None)
        if note:
            out.print(f"[dim]{note}[/]")


@data_app.command("verify")
def data_verify(data_dir: DataDir = None,
                benchmark: Annotated[Optional[str], typer.Option(help="Only this benchmark.")] = None) -> None:
    """Check data files against the SHA-256 sums shipped with textmtl."""
    from .data.benchmarks import resolve_data_dir
    from .data.checksums import verify

    results = verify(resolve_data_dir(data_dir), benchmark)
    bad = [r for r in results if r.status != "ok"]
    for r in bad:
        out.print(f"{r.status:9} {r.path}")
    out.print(f"{len(results) - len(bad)} ok, {len(bad)} not ok")
    if bad:
        raise typer.Exit(1)


@app.command("methods")
def methods_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every training method with its gradient back-ends and hyper-parameters."""
    from .methods import describe_methods

    rows = describe_methods()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="methods")
    for col in ("name", "back-ends", "hyper-parameters", "description"):
        table.add_column(col)
    for n, r in rows.items():
        hp = ", ".join(f"{k}={v!r}" for k, v in r["hyperparameters"].items()) or "-"
        table.add_row(n, ", ".join(r["backends"]), hp, r["doc"])
    out.print(table)


@app.command()
def summarize(
    groups: Annotated[list[str], typer.Argument(help="LABEL=GLOB of run directories, e.g. 'ls=runs/fdu-ls-s*'.")],
    published: Annotated[Optional[str], typer.Option(
        help="Published table and columns beside ours, e.g. asp_mtl_table2:FS-MTL,SP-MTL,ASP-MTL.")] = None,
    metric: Annotated[str, typer.Option(help="Test metric to tabulate.")] = "accuracy",
) -> None:
    """Per-task mean ± std over seeds of finished runs, as a Markdown table."""
    import glob

    from .reporting.published import load_published
    from .reporting.summary import markdown_table, summarize as summarize_runs

    summaries = []
    for group in groups:
        label, sep, pattern = group.partition("=")
        if not sep:
            raise typer.BadParameter(f"{group!r}: expected LABEL=GLOB")
        dirs = sorted(Path(p) for p in glob.glob(pattern) if (Path(p) / "metrics.json").exists())
        if not dirs:
            raise TextmtlError(f"{pattern}: no finished run directories match")
        summaries.append(summarize_runs(label, dirs, metric))
    table, columns = None, ()
    if published:
        name, _, cols = published.partition(":")
        try:
            table = load_published(name)
        except FileNotFoundError:
            raise TextmtlError(f"--published: no published table named '{name}'") from None
        columns = tuple(c for c in cols.split(",") if c) or table.columns
        unknown = [c for c in columns if c not in table.columns]
        if unknown:
            raise TextmtlError(f"--published: {name} has no column {unknown[0]!r} (columns: {', '.join(table.columns)})")
    print(markdown_table(summaries, table, columns))


def main() -> None:
    try:
        app(standalone_mode=False)
    except TextmtlError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)

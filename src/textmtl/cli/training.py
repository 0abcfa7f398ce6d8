"""`textmtl train`, `evaluate` and `predict`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from ..errors import TextmtlError
from .app import DataDir, app, err, metrics_table, out

EMPTY_MARKER = "<empty>"  # `predict`'s output for a blank input line


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Argument(help="YAML run configuration (optional with --resume).")] = None,
    method: Annotated[Optional[str], typer.Option(help="Override the method (e.g. ls, stl).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the seed.")] = None,
    data_dir: DataDir = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (directory under runs/).")] = None,
    runs_dir: Annotated[Optional[Path], typer.Option(help="Where run directories go.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key: training.lr=0.01")] = None,
    skip_bad_lines: Annotated[
        bool, typer.Option(help="Skip (and count) malformed data lines instead of failing.")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    nproc: Annotated[
        int,
        typer.Option(
            help="Data-parallel processes on this machine (launches torchrun; gloo on CPU, NCCL on CUDA).", min=1
        ),
    ] = 1,
    max_restarts: Annotated[
        int,
        typer.Option(
            "--max-restarts",
            help="With --nproc: restart a failed group of processes this many times; they continue from the "
            "last checkpoint by themselves.",
            min=0,
        ),
    ] = 0,
    resume: Annotated[
        Optional[Path],
        typer.Option(
            "--resume", help="Continue an interrupted run (its runs/<name>.partial directory) from its last checkpoint."
        ),
    ] = None,
) -> None:
    """Train a multi-task model and write runs/<name>/."""
    overrides = list(set_ or [])
    if method is not None:
        overrides.append(f"method={{name: {method}}}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    if skip_bad_lines:
        overrides.append("data.skip_bad_lines=true")
    if config is None and resume is None:
        raise TextmtlError("train: give a CONFIG file, or --resume RUN_DIR")
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        if resume is None:
            from ..api import check_inputs

            assert config is not None  # checked above: a config or --resume
            check_inputs(config, overrides=overrides, data_dir=data_dir, world=nproc)  # one clear error, not N
        sys.exit(launch_torchrun(nproc, sys.argv[1:], max_restarts))
    from ..api import train as run_training

    try:
        result = run_training(
            config,
            overrides=overrides,
            data_dir=data_dir,
            name=name,
            runs_dir=runs_dir,
            progress=not quiet,
            resume=resume,
        )
    except KeyboardInterrupt as exc:  # the note says how to resume, if a checkpoint was kept
        err.print("; ".join(["interrupted", *getattr(exc, "__notes__", [])]), highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
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
    from ..api import evaluate as run_evaluate

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
    scores: Annotated[
        bool, typer.Option("--scores", help="JSON Lines: the label and every class's probability, per input line.")
    ] = False,
) -> None:
    """Predict a label for every line of a file, streaming it: memory stays bounded whatever its size.

    One output line per input line. A blank input line gets the marker <empty> (with --scores:
    {"label": null, "empty": true}), never a label."""
    from ..api import iter_predictions, prediction_spec
    from ..data.line_stream import LineStream, prediction_inputs
    from ..data.tasks import TaskKind
    from ..training.run_directory import load_run

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

    predictions = (
        json.dumps(p) if scores else EMPTY_MARKER if p is None else p
        for p in iter_predictions(
            run, task, tracked(prediction_inputs(stream, input, pair=pair)), batch_size=batch_size, scores=scores
        )
    )
    if output is None:
        with progress:
            _write_lines(sys.stdout, predictions)
        return
    if output.is_dir():
        raise TextmtlError(f"--output {output}: is a directory; give a file name")
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
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[lines]} lines"),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        disable=not show,
        redirect_stdout=False,
        redirect_stderr=False,
        expand=True,
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


def launch_torchrun(nproc: int, argv: list[str], max_restarts: int = 0) -> int:
    """Re-run this command under `torch.distributed.run` with `nproc` local processes (restarting a
    failed group up to `max_restarts` times)."""
    args, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--nproc", "--max-restarts"):
            skip = True
        elif not a.startswith(("--nproc=", "--max-restarts=")):
            args.append(a)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        f"--max-restarts={max_restarts}",
        "-m",
        "textmtl.cli",
        *args,
    ]
    err.print(f"launching {nproc} processes: {' '.join(cmd[1:])}", highlight=False)
    return subprocess.call(cmd)

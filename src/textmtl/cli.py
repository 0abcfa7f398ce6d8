"""The `textmtl` command line. Bad input prints one line and exits with code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from .errors import TextmtlError

try:  # typer >= 0.2x carries its own copy of click and raises that copy's exceptions
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # older typer raises the click package's
    from click.exceptions import ClickException, UsageError  # type: ignore[assignment]

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
    config: Annotated[Optional[Path], typer.Argument(help="YAML run configuration (optional with --resume).")] = None,
    method: Annotated[Optional[str], typer.Option(help="Override the method (e.g. ls, stl).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Override the seed.")] = None,
    data_dir: DataDir = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (directory under runs/).")] = None,
    runs_dir: Annotated[Optional[Path], typer.Option(help="Where run directories go.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key: training.lr=0.01")] = None,
    skip_bad_lines: Annotated[bool, typer.Option(help="Skip (and count) malformed data lines instead of failing.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    nproc: Annotated[int, typer.Option(help="Data-parallel processes on this machine (launches torchrun; "
                                             "gloo on CPU, NCCL on CUDA).", min=1)] = 1,
    resume: Annotated[Optional[Path], typer.Option(
        "--resume", help="Continue an interrupted run (its runs/<name>.partial directory) from its last checkpoint.")
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
            from .api import check_inputs

            check_inputs(config, overrides=overrides, data_dir=data_dir, world=nproc)  # one clear error, not N
        sys.exit(launch_torchrun(nproc, sys.argv[1:]))
    from .api import train as run_training

    try:
        result = run_training(config, overrides=overrides, data_dir=data_dir, name=name, runs_dir=runs_dir,
                              progress=not quiet, resume=resume)
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
    from .data.sets import BENCHMARKS, resolve_data_dir

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
    from .data.sets import resolve_data_dir
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


@app.command("list")
def list_components(
    kind: Annotated[Optional[str], typer.Argument(
        help="methods, aggregators, architectures, encoders, formats, benchmarks, samplers or exporters; "
             "none: every kind.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The registered components of one kind (or of every kind): names, settings with defaults, summary."""
    from .registry import REGISTRIES, registry

    kinds = [registry(kind).kind] if kind is not None else list(REGISTRIES)
    rows = {k: REGISTRIES[k].describe() for k in kinds}
    if "methods" in rows:  # a method's settings are its hyper-parameters
        from .methods import method_hyperparameters

        for row, entry in zip(rows["methods"], REGISTRIES["methods"].entries()):
            row["settings"] = method_hyperparameters(entry.obj)
    if "aggregators" in rows:
        for row, entry in zip(rows["aggregators"], REGISTRIES["aggregators"].entries()):
            row["settings"] = dict(entry.obj.hparam_defaults())
    if as_json:
        out.print_json(json.dumps(rows if kind is None else rows[kinds[0]], default=repr))
        return
    for k, entries in rows.items():
        table = Table(title=f"{k} ({REGISTRIES[k].key})")
        for col in ("name", "settings", "description"):
            table.add_column(col)
        for r in entries:
            settings = ", ".join(f"{n}={v!r}" for n, v in r["settings"].items()) or "-"
            table.add_row(escape(r["name"]), escape(settings), escape(r["summary"]))
        if not entries:
            table.add_row("-", "-", "none registered")
        out.print(table)


@app.command()
def summarize(
    groups: Annotated[list[str], typer.Argument(help="LABEL=GLOB of run directories, e.g. 'ls=runs/fdu-ls-s*'.")],
    published: Annotated[Optional[str], typer.Option(
        help="Published table and columns beside ours, e.g. asp_mtl_table2:FS-MTL,SP-MTL,ASP-MTL.")] = None,
    metric: Annotated[str, typer.Option(
        help="Test metric to tabulate; 'main' = each task's own main metric (accuracy, entity_f1, mcc, ...).")] = "main",
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


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="A run directory (runs/<name>) or a benchmark directory "
                                                   "(with results.csv).")],
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Where report.html and its PNGs go "
                                                                          "(default: DIRECTORY/report/).")] = None,
    reference: Annotated[str, typer.Option(help="Benchmarks: the method Δm% is measured against.")] = "stl",
    marks: Annotated[str, typer.Option(help="Benchmarks: methods drawn as marks beside every method's bars "
                                            "(comma-separated, in order: black tick, red diamond, green dots).")
                     ] = "stl,ls",
) -> None:
    """Write report.html (self-contained, images inline) and its PNG figures for a run or a benchmark."""
    from .reporting.report import build_report

    page = build_report(directory, out_dir, reference=reference, marks=tuple(_csv_option(marks, "--marks") or ()))
    out.print(f"report: {page}", highlight=False)


def launch_torchrun(nproc: int, argv: list[str]) -> int:
    """Re-run this command under `torch.distributed.run` with `nproc` local processes."""
    args, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            args.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "textmtl.cli", *args]
    err.print(f"launching {nproc} processes: {' '.join(cmd[1:])}", highlight=False)
    return subprocess.call(cmd)


def _csv_option(value: str | None, option: str, cast=str) -> list | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    try:
        return [cast(v) for v in items] or None
    except ValueError:
        raise TextmtlError(f"{option}: expected a comma-separated list of integers, got {value!r}") from None


@app.command()
def benchmark(
    suite: Annotated[Optional[str], typer.Argument(
        help="A shipped suite (fdu-mtl-16, amazon-14, glue-small; see --list) or the path of a suite YAML.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="The suite's small grid: minutes, for CI and smoke tests.")]
    = False,
    workers: Annotated[int, typer.Option(
        help="Runs at a time, each a `textmtl train` process with max(1, cores // N) threads; "
             "0 = one after the other inside this process.")] = 1,
    methods: Annotated[Optional[str], typer.Option(help="Only these methods, e.g. 'ls,getmtl'.")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Only these seeds, e.g. '1,2'.")] = None,
    variants: Annotated[Optional[str], typer.Option(help="Only these variants (encoders / architectures).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out",
        help="Output directory (default: benchmarks/<suite>/, or benchmarks/<suite>-quick/).")] = None,
    data_dir: DataDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the planned runs and which are done; train nothing.")]
    = False,
    list_suites: Annotated[bool, typer.Option("--list", help="List the shipped suites.")] = False,
) -> None:
    """Run a benchmark grid (methods × seeds × variants), skipping finished runs; write results.csv and summary.md."""
    import shlex

    from .benchmarking import builtin_suites, describe_grid, resolve_suite, run_benchmark

    if list_suites:
        for name in builtin_suites():
            s = resolve_suite(name)
            out.print(f"[bold]{name}[/]: {s.description}", highlight=False)
            out.print(f"    grid: {describe_grid(s)}; --quick: {describe_grid(s, quick=True) if s.quick else '-'}"
                      + (f"; published: {', '.join(p.table for p in s.published)}" if s.published else ""),
                      highlight=False)
        return
    if suite is None:
        raise TextmtlError("benchmark: give a suite name or a suite YAML path (see `textmtl benchmark --list`)")
    spec = resolve_suite(suite)
    if quick and spec.quick is None:
        raise TextmtlError(f"--quick: suite {spec.name} has no `quick:` section")
    report = run_benchmark(
        spec, quick=quick, out=out_dir, workers=workers, methods=_csv_option(methods, "--methods"),
        seeds=_csv_option(seeds, "--seeds", int), variants=_csv_option(variants, "--variants"),
        data_dir=data_dir, dry_run=dry_run, console=out if dry_run else err,
        command="textmtl " + shlex.join(sys.argv[1:]),
    )
    if dry_run:
        return
    trained = sum(o.ok for o in report.outcomes)
    err.print(f"{trained} run(s) trained, {len(report.skipped)} already done, {len(report.failed)} failed",
              highlight=False)
    for o in report.failed:
        err.print(f"[red]failed:[/] {o.run.name}: {o.message} (log: {report.out / 'logs' / (o.run.name + '.log')})",
                  highlight=False)
    out.print(f"results: {report.results_csv}")
    out.print(f"summary: {report.summary_md}")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def select(
    main: Annotated[str, typer.Option("--main", help="The main task, e.g. RTE or books.")],
    candidates: Annotated[str, typer.Option(help="Comma-separated candidate auxiliary tasks, e.g. CoLA,SST-2,MRPC.")],
    strategy: Annotated[str, typer.Option(help="GradTS rule: thres (tau >= --threshold), trial (greedy trials in "
                                                "tau order), fg (trial + instance filtering).")] = "trial",
    baselines: Annotated[str | None, typer.Option(
        help="Also train these baselines: main, all, random (same size as the selection), exhaustive "
             "(every subset of <= --max-subset-size candidates).")] = None,
    then_train: Annotated[bool, typer.Option("--then-train", help="Train the main task with the selected "
                                                                   "auxiliaries and report its metric.")] = False,
    drop_weights: Annotated[bool, typer.Option("--drop-weights", help="Delete each trained run's "
                                               "model.safetensors once scored (~90 MB per MiniLM run).")] = False,
    benchmark: Annotated[str | None, typer.Option(help="Benchmark of the tasks (default: inferred).")] = None,
    config: Annotated[Path | None, typer.Option(help="Run config YAML for the training settings "
                                                        "(default: MiniLM, 3 epochs, 500 train / 300 eval per task).")]
    = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a training key: training.lr=0.01")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed of every training (and of the random baseline).")] = 1,
    importance_examples: Annotated[int, typer.Option(
        min=1, help="Training examples per task for the importance fine-tuning and gradient pass.")] = 2000,
    importance_epochs: Annotated[float, typer.Option(help="Epochs of the importance fine-tuning.")] = 3.0,
    importance_batch_size: Annotated[int, typer.Option(
        min=1, help="Examples per backward pass of the gradient pass (per-example gradients either way; "
                    "1 = the official one-by-one loop).")] = 16,
    slicing: Annotated[str, typer.Option(help="Head slices of W_K/W_V: output (rows, default) or input "
                                              "(the official code's reshape).")] = "output",
    threshold: Annotated[float, typer.Option(help="GradTS-thres: task tau threshold.")] = 0.6,
    instance_threshold: Annotated[float, typer.Option(help="GradTS-fg: instance tau threshold.")] = 0.55,
    max_subset_size: Annotated[int, typer.Option(help="Exhaustive baseline: largest subset size.")] = 2,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output directory (default: "
                                                               "selections/<main>-<strategy>-s<seed>).")] = None,
    work_dir: Annotated[Path, typer.Option(help="Importance cache and trained runs, shared between "
                                                "selections.")] = Path("runs/gradts"),
    num_threads: Annotated[int | None, typer.Option(min=1, help="Torch threads.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Choose auxiliary tasks for a main task with GradTS; write selection.json and tau_heatmap.png."""
    from .selection.pipeline import SelectOptions, load_config_dict, run_selection

    opts = SelectOptions(
        main=main.strip(), candidates=_csv_option(candidates, "--candidates") or [], strategy=strategy,
        benchmark=benchmark, seed=seed, config=load_config_dict(config) if config is not None else None,
        overrides=list(set_ or []), importance_examples=importance_examples, importance_epochs=importance_epochs,
        importance_batch_size=importance_batch_size, slicing=slicing, task_threshold=threshold,
        instance_threshold=instance_threshold,
        baselines=_csv_option(baselines, "--baselines") or [], max_subset_size=max_subset_size,
        then_train=then_train, drop_weights=drop_weights, out=out_dir, work_dir=work_dir, data_dir=data_dir,
        num_threads=num_threads,
        log=lambda message: err.print(message, highlight=False, markup=False, soft_wrap=True),
    )
    path, report = run_selection(opts)
    metric = report["main_metric"]
    out.print(f"main {report['main']} ({metric}); tau: "
              + ", ".join(f"{t} {report['taus'][t]:.3f}" for t in report["ranking"]), highlight=False)
    out.print(f"selected ({report['strategy']}): {', '.join(report['selected']) or '(none: main task alone)'}",
              highlight=False)
    for name, row in [("then-train", report.get("then_train")), *report["baselines"].items()]:
        if row and "dev" in row:
            out.print(f"{name}: {{{', '.join(row['aux'])}}} dev {row['dev']:.4f} test {_fmt(row['test'])}",
                      highlight=False)
    out.print(f"selection: {path / 'selection.json'}", highlight=False)


def main() -> None:
    try:
        code = app(standalone_mode=False)  # typer.Exit(n), Ctrl-C included (130), comes back as n
        if isinstance(code, int) and code:
            sys.exit(code)
    except TextmtlError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # '[...]' is text
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:  # unknown command or option, bad value: one line, exit 2 for usage
        ctx = getattr(exc, "ctx", None) if isinstance(exc, UsageError) else None
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        err.print(f"[red]error:[/] {escape(exc.format_message())}{hint}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # `python -m textmtl.cli` (how torchrun starts the processes)
    main()

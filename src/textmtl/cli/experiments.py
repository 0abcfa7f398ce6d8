"""Grids and selections: `textmtl benchmark`, `textmtl select`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import TextmtlError
from .app import DataDir, _csv_option, _fmt, app, err, out


@app.command()
def benchmark(
    suite: Annotated[
        Optional[str],
        typer.Argument(
            help="A shipped suite (fdu-mtl-16, amazon-14, glue-small; see --list) or the path of a suite YAML."
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="The suite's small grid: minutes, for CI and smoke tests.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            help="Runs at a time, each a `textmtl train` process with max(1, cores // N) threads; "
            "0 = one after the other inside this process."
        ),
    ] = 1,
    methods: Annotated[Optional[str], typer.Option(help="Only these methods, e.g. 'ls,getmtl'.")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Only these seeds, e.g. '1,2'.")] = None,
    variants: Annotated[Optional[str], typer.Option(help="Only these variants (encoders / architectures).")] = None,
    out_dir: Annotated[
        Optional[Path],
        typer.Option("--out", help="Output directory (default: runs/grids/<suite>/, or runs/grids/<suite>-quick/)."),
    ] = None,
    data_dir: DataDir = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the planned runs and which are done; train nothing.")
    ] = False,
    list_suites: Annotated[bool, typer.Option("--list", help="List the shipped suites.")] = False,
    bundle: Annotated[
        Optional[Path],
        typer.Option(
            help="A run bundle (…/runs.jsonl.gz) that outlives the output directory: finished runs are "
            "restored from it, and each run is added to it as it finishes."
        ),
    ] = None,
) -> None:
    """Run a benchmark grid (methods × seeds × variants), skipping finished runs; write results.csv and summary.md."""
    import shlex

    from ..benchmarking import builtin_suites, describe_grid, resolve_suite, run_benchmark

    if list_suites:
        for name in builtin_suites():
            s = resolve_suite(name)
            out.print(f"[bold]{name}[/]: {s.description}", highlight=False)
            out.print(
                f"    grid: {describe_grid(s)}; --quick: {describe_grid(s, quick=True) if s.quick else '-'}"
                + (f"; published: {', '.join(p.table for p in s.published)}" if s.published else ""),
                highlight=False,
            )
        return
    if suite is None:
        raise TextmtlError("benchmark: give a suite name or a suite YAML path (see `textmtl benchmark --list`)")
    spec = resolve_suite(suite)
    if quick and spec.quick is None:
        raise TextmtlError(f"--quick: suite {spec.name} has no `quick:` section")
    report = run_benchmark(
        spec,
        quick=quick,
        out=out_dir,
        workers=workers,
        methods=_csv_option(methods, "--methods"),
        seeds=_csv_option(seeds, "--seeds", int),
        variants=_csv_option(variants, "--variants"),
        data_dir=data_dir,
        dry_run=dry_run,
        console=out if dry_run else err,
        bundle=bundle,
        command="textmtl " + shlex.join(sys.argv[1:]),
    )
    if dry_run:
        return
    trained = sum(o.ok for o in report.outcomes)
    err.print(
        f"{trained} run(s) trained, {len(report.skipped)} already done, {len(report.failed)} failed", highlight=False
    )
    for o in report.failed:
        err.print(
            f"[red]failed:[/] {o.run.name}: {o.message} (log: {report.out / 'logs' / (o.run.name + '.log')})",
            highlight=False,
        )
    out.print(f"results: {report.results_csv}")
    out.print(f"summary: {report.summary_md}")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def select(
    main: Annotated[str, typer.Option("--main", help="The main task, e.g. RTE or books.")],
    candidates: Annotated[str, typer.Option(help="Comma-separated candidate auxiliary tasks, e.g. CoLA,SST-2,MRPC.")],
    strategy: Annotated[
        str,
        typer.Option(
            help="GradTS rule: thres (tau >= --threshold), trial (greedy trials in "
            "tau order), fg (trial + instance filtering)."
        ),
    ] = "trial",
    baselines: Annotated[
        str | None,
        typer.Option(
            help="Also train these baselines: main, all, random (same size as the selection), exhaustive "
            "(every subset of <= --max-subset-size candidates)."
        ),
    ] = None,
    then_train: Annotated[
        bool,
        typer.Option("--then-train", help="Train the main task with the selected auxiliaries and report its metric."),
    ] = False,
    drop_weights: Annotated[
        bool,
        typer.Option(
            "--drop-weights", help="Delete each trained run's model.safetensors once scored (~90 MB per MiniLM run)."
        ),
    ] = False,
    benchmark: Annotated[str | None, typer.Option(help="Benchmark of the tasks (default: inferred).")] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Run config YAML for the training settings (default: MiniLM, 3 epochs, 500 train / 300 eval per task)."
        ),
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a training key: training.lr=0.01")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every training (and of the random baseline).")] = 1,
    importance_examples: Annotated[
        int, typer.Option(min=1, help="Training examples per task for the importance fine-tuning and gradient pass.")
    ] = 2000,
    importance_epochs: Annotated[float, typer.Option(help="Epochs of the importance fine-tuning.")] = 3.0,
    importance_batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            help="Examples per backward pass of the gradient pass (per-example gradients either way; "
            "1 = the official one-by-one loop).",
        ),
    ] = 16,
    slicing: Annotated[
        str, typer.Option(help="Head slices of W_K/W_V: output (rows, default) or input (the official code's reshape).")
    ] = "output",
    threshold: Annotated[float, typer.Option(help="GradTS-thres: task tau threshold.")] = 0.6,
    instance_threshold: Annotated[float, typer.Option(help="GradTS-fg: instance tau threshold.")] = 0.55,
    max_subset_size: Annotated[int, typer.Option(help="Exhaustive baseline: largest subset size.")] = 2,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default: selections/<main>-<strategy>-s<seed>).")
    ] = None,
    work_dir: Annotated[
        Path, typer.Option(help="Importance cache and trained runs, shared between selections.")
    ] = Path("runs/gradts"),
    num_threads: Annotated[int | None, typer.Option(min=1, help="Torch threads.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Choose auxiliary tasks for a main task with GradTS; write selection.json and tau_heatmap.png."""
    from ..selection.options import SelectOptions, load_config_dict
    from ..selection.pipeline import run_selection

    opts = SelectOptions(
        main=main.strip(),
        candidates=_csv_option(candidates, "--candidates") or [],
        strategy=strategy,
        benchmark=benchmark,
        seed=seed,
        config=load_config_dict(config) if config is not None else None,
        overrides=list(set_ or []),
        importance_examples=importance_examples,
        importance_epochs=importance_epochs,
        importance_batch_size=importance_batch_size,
        slicing=slicing,
        task_threshold=threshold,
        instance_threshold=instance_threshold,
        baselines=_csv_option(baselines, "--baselines") or [],
        max_subset_size=max_subset_size,
        then_train=then_train,
        drop_weights=drop_weights,
        out=out_dir,
        work_dir=work_dir,
        data_dir=data_dir,
        num_threads=num_threads,
        log=lambda message: err.print(message, highlight=False, markup=False, soft_wrap=True),
    )
    path, report = run_selection(opts)
    metric = report["main_metric"]
    out.print(
        f"main {report['main']} ({metric}); tau: "
        + ", ".join(f"{t} {report['taus'][t]:.3f}" for t in report["ranking"]),
        highlight=False,
    )
    out.print(
        f"selected ({report['strategy']}): {', '.join(report['selected']) or '(none: main task alone)'}",
        highlight=False,
    )
    for name, row in [("then-train", report.get("then_train")), *report["baselines"].items()]:
        if row and "dev" in row:
            out.print(
                f"{name}: {{{', '.join(row['aux'])}}} dev {row['dev']:.4f} test {_fmt(row['test'])}", highlight=False
            )
    out.print(f"selection: {path / 'selection.json'}", highlight=False)

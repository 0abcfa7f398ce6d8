"""Tables and pages from finished runs: `textmtl summarize`, `textmtl report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, cast

import typer

from ..errors import TextmtlError
from .app import _csv_option, app, out


@app.command()
def summarize(
    groups: Annotated[
        list[str],
        typer.Argument(
            help="LABEL=GLOB of run directories, e.g. 'ls=runs/fdu-ls-s*', LABEL=BUNDLE:GLOB of runs in a run "
            "bundle, e.g. 'ls=docs/evidence/amazon-14/runs.jsonl.gz:ls-s*', or plain run directories (or globs), "
            "grouped by their method."
        ),
    ],
    published: Annotated[
        Optional[str],
        typer.Option(help="Published table and columns beside ours, e.g. asp_mtl_table2:FS-MTL,SP-MTL,ASP-MTL."),
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            help="Test metric to tabulate; 'main' = each task's own main metric (accuracy, entity_f1, mcc, ...)."
        ),
    ] = "main",
    baseline: Annotated[
        Optional[str],
        typer.Option(
            help="The group every other one is compared with (runs paired by seed: 95% interval, t-test); "
            "default: the group labelled 'ls' if there is one."
        ),
    ] = None,
) -> None:
    """Per-task mean ± std over seeds of finished runs, as a Markdown table, and every group's paired
    difference to a baseline group."""
    import glob
    import tempfile

    from ..reporting import bundle
    from ..reporting.comparison import group_runs
    from ..reporting.published import load_published
    from ..reporting.summary import markdown_table, significance_table
    from ..reporting.summary import summarize as summarize_runs

    summaries = []
    loose = [g for g in groups if "=" not in g]
    if loose:  # plain run directories: one group per method
        loose_dirs = [Path(p) for g in loose for p in (sorted(glob.glob(g)) or [g])]
        for method, runs in group_runs(loose_dirs).items():
            summaries.append(summarize_runs(method, runs, metric))
    with tempfile.TemporaryDirectory(prefix="textmtl-summarize-") as scratch:
        for i, group in enumerate(g for g in groups if "=" in g):
            label, sep, pattern = group.partition("=")
            source, colon, members = pattern.rpartition(":")
            if colon and source.endswith(bundle.SUFFIX):  # runs inside a bundle
                dirs = sorted(bundle.unpack(source, Path(scratch) / str(i), members))
            else:
                dirs = sorted(Path(p) for p in glob.glob(pattern) if (Path(p) / "metrics.json").exists())
            if not dirs:
                raise TextmtlError(f"{pattern}: no finished run directories match")
            summaries.append(summarize_runs(label, dirs, metric))
    table, columns = None, cast(tuple[str, ...], ())
    if published:
        name, _, cols = published.partition(":")
        try:
            table = load_published(name)
        except FileNotFoundError:
            raise TextmtlError(f"--published: no published table named '{name}'") from None
        columns = tuple(c for c in cols.split(",") if c) or table.columns
        unknown = [c for c in columns if c not in table.columns]
        if unknown:
            raise TextmtlError(
                f"--published: {name} has no column {unknown[0]!r} (columns: {', '.join(table.columns)})"
            )
    labels = [s.label for s in summaries]
    reference = baseline if baseline is not None else ("ls" if "ls" in labels and len(labels) > 1 else None)
    paired = significance_table(summaries, reference) if reference is not None else None  # errors before output
    print(markdown_table(summaries, table, columns))
    if paired is not None:
        print()
        print(paired)


@app.command()
def report(
    directories: Annotated[
        list[Path],
        typer.Argument(
            help="A run directory (runs/<name>), a benchmark directory (with results.csv), or several run "
            "directories to compare (grouped by method; needs --out)."
        ),
    ],
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where report.html and its PNGs go (default: DIRECTORY/report/).")
    ] = None,
    reference: Annotated[str, typer.Option(help="Benchmarks: the method Δm% is measured against.")] = "stl",
    marks: Annotated[
        str,
        typer.Option(
            help="Benchmarks: methods drawn as marks beside every method's bars "
            "(comma-separated, in order: black tick, red diamond, green dots)."
        ),
    ] = "stl,ls",
) -> None:
    """Write report.html (self-contained, images inline) and its PNG figures for a run, a benchmark, or
    several runs compared."""
    from ..reporting.report import build_report

    target: Path | list[str | Path] = list(directories) if len(directories) > 1 else directories[0]
    page = build_report(target, out_dir, reference=reference, marks=tuple(_csv_option(marks, "--marks") or ()))
    out.print(f"report: {page}", highlight=False)


bundle_app = typer.Typer(no_args_is_help=True, help="Run bundles: many runs' small files in one .jsonl.gz file.")
app.add_typer(bundle_app, name="bundle")


@bundle_app.command("pack")
def bundle_pack(
    out_file: Annotated[Path, typer.Argument(help="The bundle to write (…/runs.jsonl.gz).")],
    run_dirs: Annotated[list[Path], typer.Argument(help="Finished run directories.")],
    strip_prefix: Annotated[str, typer.Option(help="Remove this prefix from the run names.")] = "",
) -> None:
    """Pack finished runs (config, metrics, history, model description; never weights) into one file."""
    from ..reporting import bundle

    if not out_file.name.endswith(bundle.SUFFIX):
        raise TextmtlError(f"{out_file}: a run bundle's name ends with {bundle.SUFFIX}")
    names = {d.name: d.name.removeprefix(strip_prefix) for d in run_dirs}
    count = bundle.pack(run_dirs, out_file, names=names)
    out.print(f"packed {count} runs into {out_file}", highlight=False)


@bundle_app.command("unpack")
def bundle_unpack(
    bundle_file: Annotated[Path, typer.Argument(help="A run bundle (.jsonl.gz).")],
    dest: Annotated[Path, typer.Argument(help="Where the run directories go.")],
    runs: Annotated[str, typer.Option(help="Only the runs whose name matches this glob.")] = "*",
) -> None:
    """Recreate run directories (config.yaml, metrics.json, history.jsonl, model.json) from a bundle."""
    from ..reporting import bundle

    written = bundle.unpack(bundle_file, dest, runs)
    out.print(f"unpacked {len(written)} runs into {dest}", highlight=False)


@bundle_app.command("list")
def bundle_list(bundle_file: Annotated[Path, typer.Argument(help="A run bundle (.jsonl.gz).")]) -> None:
    """The names of the runs in a bundle."""
    from ..reporting import bundle

    for name in bundle.names(bundle_file):
        out.print(name, highlight=False)

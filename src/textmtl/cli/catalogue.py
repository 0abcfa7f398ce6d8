"""What textmtl knows: `textmtl data list|verify`, `textmtl methods`, `textmtl list`."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .app import DataDir, app, data_app, out


@data_app.command("list")
def data_list(data_dir: DataDir = None) -> None:
    """Each known benchmark, its tasks and split sizes, and whether it was found."""
    from ..data.sets import BENCHMARKS, resolve_data_dir

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
                table.add_row(
                    task, "[green]yes[/]", *(str(s.get(k, "-")) for k in ("train", "dev", "test", "unlabelled"))
                )
        out.print(table)
        note = getattr(bench, "notes", None)
        if note:
            out.print(f"[dim]{note}[/]")


@data_app.command("verify")
def data_verify(
    data_dir: DataDir = None, benchmark: Annotated[Optional[str], typer.Option(help="Only this benchmark.")] = None
) -> None:
    """Check data files against the SHA-256 sums shipped with textmtl."""
    from ..data.checksums import verify
    from ..data.sets import resolve_data_dir

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
    from ..methods import describe_methods

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
    kind: Annotated[
        Optional[str],
        typer.Argument(
            help="methods, aggregators, architectures, encoders, formats, benchmarks, samplers or exporters; "
            "none: every kind."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The registered components of one kind (or of every kind): names, settings with defaults, summary."""
    from ..registry import REGISTRIES, registry

    kinds = [registry(kind).kind] if kind is not None else list(REGISTRIES)
    rows = {k: REGISTRIES[k].describe() for k in kinds}
    if "methods" in rows:  # a method's settings are its hyper-parameters
        from ..methods import method_hyperparameters

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

"""`textmtl advise`: which method to train a config with, from a short measured run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from .app import DataDir, _csv_option, app, err, out


@app.command()
def advise(
    config: Annotated[Path, typer.Argument(help="YAML run configuration (its data, model and training settings).")],
    steps: Annotated[int, typer.Option(help="Steps of ls that the geometry is measured along.", min=1)] = 200,
    seconds: Annotated[
        Optional[float], typer.Option(help="Wall-clock budget of those steps (stops earlier when spent).", min=1)
    ] = None,
    probe_every: Annotated[int, typer.Option(help="Measure the geometry every N steps.", min=1)] = 25,
    probe_size: Annotated[int, typer.Option(help="Examples per task in the fixed probe batches.", min=1)] = 64,
    methods: Annotated[
        Optional[str], typer.Option(help="Candidate methods whose step cost is measured (default: 8 common ones).")
    ] = None,
    out_path: Annotated[Path, typer.Option("--out", help="Where the JSON report goes.")] = Path("advice.json"),
    data_dir: DataDir = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key: training.lr=0.01")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress lines.")] = False,
) -> None:
    """Measure gradient conflict, loss and size scales and per-step costs on a short run of CONFIG; check
    the data for test texts seen in training; recommend a method and back-end (writes advice.json)."""
    from ..advice.advisor import DEFAULT_CANDIDATES, AdviceOptions
    from ..advice.advisor import advise as run_advice
    from ..errors import TextmtlError

    candidates = _csv_option(methods, "--methods") or list(DEFAULT_CANDIDATES)
    if out_path.is_dir():
        raise TextmtlError(f"--out: {out_path} is a directory; give a file name (e.g. {out_path / 'advice.json'})")
    opts = AdviceOptions(
        steps=steps, seconds=seconds, probe_every=probe_every, probe_size=probe_size, candidates=candidates
    )
    report = run_advice(
        config,
        overrides=list(set_ or []),
        data_dir=data_dir,
        options=opts,
        on_progress=None if quiet else lambda text: err.print(text, highlight=False),
    )
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
        tmp.replace(out_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TextmtlError(f"--out: cannot write {out_path}: {exc.strerror or exc}") from None
    _print(report)
    out.print(f"advice: {out_path}")


def _print(report: dict) -> None:
    g, rec, data = report["geometry"], report["recommendation"], report["data"]
    table = Table(title=f"measured over {report['budget']['steps']} steps of ls", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("mean pairwise gradient cosine", f"{g['mean_cosine']:+.3f}"),
        ("min pairwise cosine", f"{g['min_cosine']:+.3f}"),
        ("pairs with cosine < 0", f"{100 * g['negative_share']:.0f}%"),
        ("pairs with cosine < -0.1", f"{100 * g['conflict_share']:.0f}%"),
        (f"most opposed pair ({' / '.join(g['worst_pair'])}), mean over probes", f"{g['worst_pair_cosine']:+.3f}"),
        ("loss ratio (largest / smallest, at the start)", f"{g['loss_ratio']:.1f}x"),
        ("gradient-norm ratio (median)", f"{g['grad_norm_ratio']:.1f}x"),
        ("task-size ratio", f"{data['size_ratio']:.1f}x"),
        (
            "representation vs parameters: mean |cosine difference|",
            "-" if g["representation_gap"] is None else f"{g['representation_gap']:.3f}",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    costs = Table(title="per-step cost relative to ls")
    costs.add_column("method")
    costs.add_column("cost", justify="right")
    for name, value in sorted(report["costs"].items(), key=lambda kv: kv[1]):
        costs.add_row(Text(name), f"{value:.2f}x")
    out.print(costs)
    for o in data["overlaps"][:10]:
        share = 100 * o["share"]
        if share >= 1:
            where = "its own train" if o["test_task"] == o["train_task"] else f"{o['train_task']} train"
            out.print(
                Text(f"overlap: {o['count']}/{o['test_size']} ({share:.1f}%) of {o['test_task']} test in {where}")
            )
    backend = f" (backend: {rec['backend']})" if rec["backend"] else ""
    out.print(Text(f"recommended: {rec['method']}{backend}", style="bold"))
    for reason in rec["reasons"]:
        out.print(Text(f"  - {reason}"))
    for note in rec["notes"]:
        out.print(Text(f"  note: {note}"))
    if rec["alternative"]:
        out.print(Text(f"cheaper alternative: {rec['alternative']} ({rec['alternative_reason']})"))

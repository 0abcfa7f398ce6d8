"""`textmtl export`: a finished run in a format other tools load (Hugging Face folders, ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import app, err, out


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    format: Annotated[str, typer.Option("--format", "-f", help="hf (transformer runs) or onnx (any run).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="The folder to write (one sub-folder per task).")],
    task: Annotated[
        Optional[list[str]], typer.Option("--task", help="Export only this task (repeatable); default: every task.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Export a run's tasks: `--format hf` writes a transformers folder per task (AutoModelFor...
    and pipeline(...) load it, with trust_remote_code=True, with the task's label names);
    `--format onnx` writes an ONNX graph per task for TextCNN, BiLSTM and transformer runs."""
    from ..exporting import export_run

    written = export_run(run_dir, format, out_dir, task, force=force)
    for path in written:
        out.print(str(path), highlight=False)
    err.print(f"exported {len(written)} task(s) as {format} to {out_dir}", highlight=False)

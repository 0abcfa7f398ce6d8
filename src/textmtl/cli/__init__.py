"""The `textmtl` command line. Bad input prints one line and exits with code 2.

Commands live in one module per group (`training`, `catalogue`, `results`, `experiments`, `exporting`,
`advising`), each registering on the shared `app`; only typer and rich are imported at start-up, so
`textmtl --help` stays fast: a command imports what it needs when it runs.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.markup import escape

from ..errors import TextmtlError
from . import advising, catalogue, experiments, exporting, results, training  # noqa: F401  (registers the commands)
from .app import app, err

try:  # typer >= 0.2x carries its own copy of click and raises that copy's exceptions
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # older typer raises the click package's
    from click.exceptions import ClickException, UsageError  # type: ignore[assignment]

__all__ = ["app", "main"]


def exit_now(code: int) -> None:
    """End a torchrun worker whose run is written and whose process group is closed without the
    interpreter's teardown: gloo's threads sometimes abort there ("terminate called without an active
    exception", SIGABRT), which torchrun would report as a failed run."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    try:
        code = app(standalone_mode=False)  # typer.Exit(n), Ctrl-C included (130), comes back as n
        if isinstance(code, int) and code:
            sys.exit(code)
        if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
            exit_now(0)
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

"""Run the `textmtl` command in-process, exactly as the console script does (errors -> exit 2)."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout


def run_main(args: list[str]) -> tuple[int, str]:
    """`textmtl.cli.main()` in-process: exit code and everything it printed."""
    from textmtl import cli

    buffer = io.StringIO()
    old_argv = sys.argv
    sys.argv = ["textmtl", *args]
    try:
        with redirect_stdout(buffer), redirect_stderr(buffer):
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old_argv
    return code, buffer.getvalue()

"""`textmtl report DIR`: one self-contained report.html for a run or a benchmark directory.

A run directory (history.jsonl, metrics.json, config.yaml) gives per-task scores, training
curves, the gradient-conflict heatmap and its evolution, task weights over time and, where the
run recorded them, task-communication and MMoE gate matrices. A benchmark
directory (results.csv, summary.md, runs/) gives per-task scores of each method against STL and
LS, Δm% per method (`grid_summary.delta_m_by_method`, as in summary.md), dev curves and conflict
shares of its runs, and summary.md itself. A section whose data the directory lacks says so.

The page has no scripts, styles or images from elsewhere: PNGs are inlined as base64, and the
same PNGs are written beside report.html.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import TextmtlError
from ..files import atomic_write_text
from .benchmark_page import benchmark_report, is_benchmark_dir
from .page import Report, Section, markdown_to_html, render_html
from .run_data import RunData, is_run_dir, load_run_data
from .run_page import run_report

# ------------------------------------------------------------------------------ entry point


def _previous_images(page: Path) -> set[str]:
    """The PNG files an earlier report.html in the same directory wrote beside itself (its inline images'
    titles), so that a re-render removes the ones it no longer has and never touches other files."""
    try:
        text = page.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return set(re.findall(r'<img src="data:image/png;base64,[^"]*" alt="[^"]*" title="([^"/\\]+\.png)">', text))


def build_report(
    path: str | Path | list[str | Path],
    out: str | Path | None = None,
    reference: str = "stl",
    marks: tuple[str, ...] = ("stl", "ls"),
) -> Path:
    """Write `report.html` and its PNGs into `out` (default `<path>/report/`); returns the page's path.
    Several run directories give one page comparing them (`comparison`; `out` is then required)."""
    if isinstance(path, list):
        if len(path) > 1:
            from .comparison import comparison_report

            if out is None:
                raise TextmtlError("report: comparing several runs needs --out")
            missing = [str(p) for p in path if not Path(p).is_dir()]
            if missing:
                raise TextmtlError(f"{missing[0]}: no such directory")
            return _write(comparison_report([Path(p) for p in path]), Path(out))
        path = path[0]
    path = Path(path)
    if not path.exists():
        raise TextmtlError(f"{path}: no such directory")
    if not path.is_dir():
        raise TextmtlError(f"{path}: not a directory; give a run directory or a benchmark directory")
    if is_benchmark_dir(path):
        report = benchmark_report(path, reference, marks)
    elif is_run_dir(path):
        report = run_report(load_run_data(path))
    else:
        raise TextmtlError(
            f"{path}: neither a run directory (history.jsonl, metrics.json) nor a benchmark directory (results.csv)"
        )
    return _write(report, Path(out) if out is not None else path / "report")


def _write(report: Report, target: Path) -> Path:
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in _previous_images(target / "report.html") - set(report.images):
            (target / name).unlink(missing_ok=True)  # a figure the new page no longer has: not left beside it
        for name, data in report.images.items():
            (target / name).write_bytes(data)
        page = target / "report.html"
        atomic_write_text(page, render_html(report))
    except OSError as exc:
        raise TextmtlError(f"{target}: cannot write the report ({exc.strerror or exc})") from None
    return page


__all__ = [
    "Report",
    "RunData",
    "Section",
    "benchmark_report",
    "build_report",
    "load_run_data",
    "markdown_to_html",
    "render_html",
    "run_report",
]

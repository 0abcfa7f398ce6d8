"""The report page: sections of figures, tables and notes, rendered as one self-contained HTML file."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .run_data import _finite


@dataclass
class Section:
    """One part of the page: figures (PNG file names), HTML bits and notes on what is missing."""

    title: str
    intro: str = ""  # HTML
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, alt text)
    html: str = ""
    notes: list[str] = field(default_factory=list)  # plain text
    beside: bool = False  # the HTML beside the (single) figure, not under it


@dataclass
class Report:
    title: str
    facts: list[tuple[str, str]]  # plain text
    tasks: list[str]
    sections: list[Section]
    images: dict[str, bytes]
    source: Path


# ------------------------------------------------------------------------------ HTML


_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Helvetica,Arial,sans-serif;margin:0;color:#1d1d1f;
background:#f4f5f7;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 12px}h2{font-size:19px;margin:0 0 8px}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:16px 20px;margin:16px 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.facts dt{font-weight:600;color:#444}dl.facts dd{margin:0}
img{max-width:100%;height:auto;display:block;margin:10px auto}
div.beside{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
div.beside img{margin:10px 0;min-width:0;flex:0 1 auto}
table{border-collapse:collapse;margin:10px 0;font-size:14px}
th,td{border-bottom:1px solid #e3e6ea;padding:3px 10px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#f8f9fb}
p.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px;margin:8px 0;font-size:14px}
.muted{color:#666}code{background:#eef0f3;padding:0 3px;border-radius:3px}
footer{color:#777;font-size:13px;text-align:center;padding:8px 0 24px}
"""


def render_html(report: Report) -> str:
    """The page, with every image inline (no file, script or style from elsewhere)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{html.escape(report.title)}</h1>",
        "<section><dl class=facts>",
    ]
    for key, value in report.facts:
        parts.append(f"<dt>{html.escape(key)}</dt><dd>{html.escape(value)}</dd>")
    parts.append("</dl></section>")
    for s in report.sections:
        parts.append(f"<section><h2>{html.escape(s.title)}</h2>")
        if s.intro:
            parts.append(f"<p>{s.intro}</p>")
        if s.beside:
            parts.append("<div class=beside>")
        for name, alt in s.figures:
            data = base64.b64encode(report.images[name]).decode("ascii")
            parts.append(
                f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" title="{html.escape(name)}">'
            )
        if s.html:
            parts.append(s.html)
        if s.beside:
            parts.append("</div>")
        for note in s.notes:
            parts.append(f"<p class=note>{_inline(note)}</p>")
        parts.append("</section>")
    stamp = datetime.now().astimezone().isoformat(timespec="seconds")
    parts.append(f"<footer>textmtl report of {html.escape(str(report.source))}, {stamp}</footer></main></body></html>")
    return "\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escape, then `code` and **bold** spans."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def markdown_to_html(text: str) -> str:
    """The Markdown of summary.md (headings, bullets, pipe tables, paragraphs) as HTML."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            body = [r for r in block[1:] if not all(set(c) <= set("-: ") for c in r)]
            out.append(_table([_inline(c) for c in block[0]], [[_inline(c) for c in r] for r in body], numeric_from=1))
            continue
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 2, 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line:
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 99) -> str:
    """An HTML table from already escaped cells; columns from `numeric_from` on are right-aligned."""
    parts = ["<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        parts.append(
            "<tr>"
            + "".join(f'<td class="num">{c}</td>' if j >= numeric_from else f"<td>{c}</td>" for j, c in enumerate(row))
            + "</tr>"
        )
    parts.append("</tbody></table>")
    return "".join(parts)


def _means_table(tasks: Sequence[str], means: Mapping[str, Mapping[str, float]]) -> str:
    methods = list(means)
    rows = [[html.escape(t)] + [_pct(means[m].get(t)) for m in methods] for t in tasks]
    return _table(["task"] + [html.escape(m) for m in methods], rows, numeric_from=1)


def _pct(v: Any) -> str:
    return f"{100 * float(v):.2f}" if _finite(v) else "-"


def _metric_label(metric: Mapping[str, str | None]) -> str:
    names = sorted({m for m in metric.values() if m})
    return names[0] if len(names) == 1 else "main metric"


def _duration(seconds: Any) -> str:
    if not _finite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"

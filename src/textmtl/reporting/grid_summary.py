"""`summary.md` of a benchmark grid, from the rows of `results.csv`.

Per variant, one Markdown table: rows = tasks, "average", "Δm% vs <reference>", "mean rank",
"wall time per run"; columns = our methods (mean ± sample std over seeds, ×100) and then the
published columns, each labelled "(published, <paper> Table N)". The maths is in `grid_metrics`.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..files import atomic_write_text
from .grid_metrics import delta_m, is_lower_better, mean_rank, mean_std
from .published import PublishedTable, load_published
from .significance import multiplicity_note, paired_rows

RESULT_COLUMNS = (
    "suite",
    "variant",
    "method",
    "seed",
    "task",
    "metric",
    "dev",
    "test",
    "wall_seconds",
    "steps",
    "run_dir",
)
AVERAGE_MISMATCH = 0.05  # points: a paper's printed average further than this from its row mean is flagged


@dataclass
class PublishedColumns:
    """Which columns of which published table go beside our numbers."""

    table: str
    columns: Mapping[str, str] = field(default_factory=dict)  # our method -> paper column
    extra_columns: Sequence[str] = ()
    variants: Sequence[str] | None = None  # None: beside every variant


@dataclass
class SummaryContext:
    suite: str
    methods: Sequence[str]  # our method labels, in column order
    variants: Sequence[str]
    has_variants: bool = False
    reference: str = "stl"  # Δm% is measured against it
    quick: bool = False
    description: str = ""
    header: Mapping[str, str] = field(default_factory=dict)  # command, git commit, machine, date, ...
    published: Sequence[PublishedColumns] = ()
    planned: Mapping[tuple[str, str], Sequence[int]] = field(default_factory=dict)  # (variant, method) -> seeds
    baseline: str = "ls"  # the paired differences (confidence intervals, tests) are measured against it


# ------------------------------------------------------------------------------ results.csv


def write_results_csv(rows: Iterable[Mapping], path: Path) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in RESULT_COLUMNS})
    atomic_write_text(path, buffer.getvalue())


def read_results_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["seed"] = int(row["seed"])
        for key in ("dev", "test", "wall_seconds"):
            row[key] = float(row[key]) if row.get(key) not in (None, "") else math.nan
        row["steps"] = int(row["steps"]) if row.get("steps") not in (None, "") else None
    return rows


def _csv_value(v):
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.6g}"
    return "" if v is None else v


# ------------------------------------------------------------------------------ summary.md


def render_summary(rows: Sequence[Mapping], ctx: SummaryContext) -> str:
    title = f"# Benchmark `{ctx.suite}`" + (" (quick)" if ctx.quick else "")
    lines = [title, ""]
    if ctx.description:
        lines += [ctx.description.strip(), ""]
    for key, value in ctx.header.items():
        lines.append(f"- {key}: {value}")
    finished = {(r["variant"], r["method"], int(r["seed"])) for r in rows}
    planned = sum(len(s) for s in ctx.planned.values())
    if planned:
        lines.append(f"- runs finished: {len(finished)} of {planned} planned")
    intro = (
        "Scores are test-set values ×100 of each task's main metric; ours are mean ± sample std over the "
        "seeds that finished (n; the mean alone when n = 1)."
    )
    if ctx.published:
        intro += (
            " Published columns are the papers' numbers as printed (error rates converted to accuracy), "
            "not reproductions."
        )
    lines += ["", intro, ""]
    for variant in ctx.variants:
        vrows = [r for r in rows if r["variant"] == variant]
        if ctx.has_variants:
            lines += [f"## Variant `{variant}`", ""]
        lines += variant_section(vrows, ctx, variant)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def variant_section(rows: Sequence[Mapping], ctx: SummaryContext, variant: str) -> list[str]:
    """The table of one variant and its notes."""
    notes: list[str] = []
    methods = [m for m in ctx.methods if any(r["method"] == m for r in rows)]
    missing = [m for m in ctx.methods if m not in methods and (variant, m) in ctx.planned]
    if not methods:
        return ["No finished runs yet."]
    tasks: list[str] = list(dict.fromkeys(r["task"] for r in rows))
    metric = {r["task"]: r["metric"] for r in rows}
    lower = {t: is_lower_better(metric[t]) for t in tasks}

    by_mt: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_run: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    wall: dict[tuple[str, int], float] = {}
    for r in rows:
        by_mt[(r["method"], r["task"])].append(float(r["test"]))
        by_run[(r["method"], int(r["seed"]))][r["task"]] = float(r["test"])
        wall[(r["method"], int(r["seed"]))] = float(r["wall_seconds"])
    seeds = {m: sorted(s for (mm, s) in by_run if mm == m) for m in methods}
    stats = {m: {t: mean_std(by_mt[(m, t)]) for t in tasks if by_mt.get((m, t))} for m in methods}
    means = {m: {t: v[0] for t, v in stats[m].items()} for m in methods}
    averages = {}
    for m in methods:
        per_seed = [
            sum(scores.values()) / len(scores)
            for (mm, _), scores in by_run.items()
            if mm == m and set(scores) >= set(tasks)
        ]
        averages[m] = mean_std(per_seed) if per_seed else None

    # published columns that apply to this variant
    pub_cols: list[tuple[PublishedTable, str, str | None, PublishedColumns]] = []  # (table, column, our method)
    for spec in ctx.published:
        if spec.variants is not None and variant not in spec.variants:
            continue
        table = load_published(spec.table)
        for ours, col in spec.columns.items():
            pub_cols.append((table, col, ours, spec))
        for col in spec.extra_columns:
            pub_cols.append((table, col, None, spec))

    head = (
        ["task"]
        + [f"{m} (ours, n={len(seeds[m])})" for m in methods]
        + [f"{col} (published, {table.label})" for table, col, _, _ in pub_cols]
    )
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    for t in tasks:
        cells = [t if not lower[t] else f"{t} ({metric[t]}, lower is better)"]
        cells += [_pm(stats[m].get(t), len(by_mt.get((m, t), ()))) for m in methods]
        cells += [_pub_value(table, col, t) for table, col, _, _ in pub_cols]
        out.append(_row(cells))

    # average
    footnotes: dict[str, int] = {}

    def mark(text: str) -> str:
        if text not in footnotes:
            footnotes[text] = len(footnotes) + 1
        return _SUPERSCRIPT[footnotes[text]] if footnotes[text] < len(_SUPERSCRIPT) else f"[{footnotes[text]}]"

    cells = ["**average**"] + [f"**{_pm(averages[m], len(seeds[m]))}**" if averages[m] else "-" for m in methods]
    for table, col, _, _ in pub_cols:
        shown = [c for tb, c, _, _ in pub_cols if tb is table]
        cells.append(_pub_average(table, col, tasks, mark, shown))
    out.append(_row(cells))

    # Δm%
    ref = ctx.reference
    if ref in methods:
        deltas, usable, dropped = delta_m_by_method(means, ref, tasks, lower)
        if dropped:
            notes.append(f"Δm% leaves out {', '.join(dropped)} ({ref} score 0 or a method without a score there).")
        if usable:
            cells = [f"Δm% vs {ref}"] + [f"{deltas[m]:+.2f}" for m in methods]
            for table, col, _, spec in pub_cols:
                cells.append(_pub_delta_m(table, col, spec, ref, usable, mark))
            out.append(_row(cells))
    else:
        notes.append(
            f"Δm% is omitted: no finished `{ref}` (single-task) runs in this "
            f"{'variant' if ctx.has_variants else 'grid'} to measure against."
        )

    # mean rank among our methods
    if len(methods) > 1:
        ranks = mean_rank(means, lower)
        cells = ["mean rank"] + [_num(ranks[m], 2) for m in methods] + ["-"] * len(pub_cols)
        out.append(_row(cells))
    cells = (
        ["wall time per run"]
        + [_duration(sum(wall[(m, s)] for s in seeds[m]) / len(seeds[m])) for m in methods]
        + ["-"] * len(pub_cols)
    )
    out.append(_row(cells))

    out += significance_section(by_run, methods, ctx.baseline, tasks, lower)

    # notes under the table
    out.append("")
    pub_pairs = [f"{col} ↔ {ours}" for _, col, ours, _ in pub_cols if ours]
    if pub_pairs:
        out.append(f"Published counterparts of our methods: {', '.join(pub_pairs)}.")
    incomplete = [
        f"{m} {len(seeds[m])}/{len(ctx.planned[(variant, m)])}"
        for m in methods
        if (variant, m) in ctx.planned and len(seeds[m]) < len(ctx.planned[(variant, m)])
    ]
    if incomplete or missing:
        out.append(
            "Runs still missing: "
            + ", ".join(incomplete + [f"{m} 0/{len(ctx.planned[(variant, m)])}" for m in missing])
            + "."
        )
    out.append(
        "Average: mean ± std over seeds of each run's task average. Δm%: Maninis et al. (2019), "
        "(1/K) Σ_k (−1)^l_k (M_k − M_stl,k)/M_stl,k × 100 from per-task means over seeds (positive = better "
        "than single-task). Mean rank: our methods ranked per task (1 = best, ties share the average rank), "
        "averaged over tasks. Wall time: training time per run (metrics.json), mean over seeds."
    )
    out.extend(notes)
    if footnotes:
        out.append("")
        for text, n in footnotes.items():
            out.append(f"{_SUPERSCRIPT[n] if n < len(_SUPERSCRIPT) else f'[{n}]'} {text}")
    return out


def significance_section(
    by_run: Mapping[tuple[str, int], Mapping[str, float]],
    methods: Sequence[str],
    baseline: str,
    tasks: Sequence[str],
    lower: Mapping[str, bool],
) -> list[str]:
    """A table of every method's paired difference to `baseline` (``significance``), or nothing."""
    if baseline not in methods or len(methods) < 2:
        return []
    runs: dict[str, dict[int, Mapping[str, float]]] = defaultdict(dict)
    for (m, seed), scores in by_run.items():
        runs[m][seed] = scores
    rows = paired_rows(runs, baseline, tasks, lower)
    out = [
        "",
        f"Paired differences to `{baseline}` (×100; positive = better), 95% confidence interval (Student's t) "
        "and paired t-test; the verdict reads the per-seed interval (the tasks of one run share its encoder, "
        "so seed × task pairs are not independent and their interval is too narrow):",
        "",
        "| method | task average, paired by seed | tasks, paired by seed × task | verdict (per seed) |",
        "|---|---|---|---|",
    ]
    for m in methods:
        if m not in rows:
            continue
        per_seed, per_task = rows[m]
        if per_seed.n < 2:
            verdict = "too few paired seeds"
        elif per_seed.distinguishable:
            verdict = "better" if per_seed.mean > 0 else "worse"
        else:
            verdict = "not distinguishable"
        out.append(_row([m, per_seed.cell(), per_task.cell(), verdict]))
    note = multiplicity_note({m: rows[m][0] for m in methods if m in rows})
    return [*out, "", note] if note else out


def task_means(rows: Sequence[Mapping]) -> dict[str, dict[str, float]]:
    """`{method: {task: mean test score over seeds}}` of results.csv rows (one variant)."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        values[r["method"]][r["task"]].append(float(r["test"]))
    return {m: {t: mean_std(v)[0] for t, v in by_task.items()} for m, by_task in values.items()}


def delta_m_by_method(
    means: Mapping[str, Mapping[str, float]], reference: str, tasks: Sequence[str], lower: Mapping[str, bool]
) -> tuple[dict[str, float], list[str], list[str]]:
    """Δm% of every method of `means` against `reference`, as summary.md shows it: (values, tasks
    used, tasks left out: a reference score of 0 or a method without a score there)."""
    methods = list(means)
    usable = [t for t in tasks if means[reference].get(t, 0) != 0 and all(t in means[m] for m in methods)]
    dropped = [t for t in tasks if t not in usable]
    if not usable:
        return {}, usable, dropped
    ref_means = {t: means[reference][t] for t in usable}
    return {m: delta_m(means[m], ref_means, lower) for m in methods}, usable, dropped


_SUPERSCRIPT = ["⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _pm(v: tuple[float, float] | None, n: int = 2) -> str:
    """Mean ± std ×100; the mean alone for a single seed (its std is not defined)."""
    if v is None:
        return "-"
    return f"{100 * v[0]:.2f}" if n < 2 else f"{100 * v[0]:.2f} ± {100 * v[1]:.2f}"


def _num(v: float, decimals: int) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{decimals}f}"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _pub_value(table: PublishedTable, col: str, task: str) -> str:
    acc = table.accuracy(col)
    return f"{100 * acc[task]:.{table.decimals}f}" if task in acc else "-"


def _pub_average(table: PublishedTable, col: str, tasks: Sequence[str], mark, shown: Sequence[str]) -> str:
    d = table.decimals
    common = [t for t in tasks if t in table.rows]
    if not common:
        return "-"
    reported = 100 * table.reported_average_accuracy(col)
    if set(common) != set(table.rows) or len(common) != len(tasks):
        mean_common = 100 * table.row_mean_accuracy(col, common)
        printed = ", ".join(f"{c} {100 * table.reported_average_accuracy(c):.{d}f}" for c in shown)
        return f"{mean_common:.{d}f}" + mark(
            f"{table.label}: mean of the paper's rows over the {len(common)} task(s) that are both in the paper "
            f"and in this grid ({len(tasks)} here, {len(table.rows)} in the paper), so that it compares with our "
            f"average; the paper's printed averages over its {len(table.rows)} tasks: {printed}."
        )
    row_mean = 100 * table.row_mean_accuracy(col)
    if abs(row_mean - reported) > AVERAGE_MISMATCH:
        return f"{reported:.{d}f} / {row_mean:.{d}f}" + mark(
            f"{table.label}: the printed average (first) is not the mean of the paper's own per-task rows "
            f"(second; differences > {AVERAGE_MISMATCH} points). The paper does not say how its average was "
            f"aggregated; compare our average with the row mean, which is computed the way ours is."
        )
    return f"{reported:.{d}f}"


def _pub_delta_m(table: PublishedTable, col: str, spec: PublishedColumns, ref: str, tasks: Sequence[str], mark) -> str:
    ref_col = spec.columns.get(ref)
    common = [t for t in tasks if t in table.rows]
    if ref_col is None or not common:
        return "-"
    acc, base = table.accuracy(col), table.accuracy(ref_col)
    value = delta_m(acc, {t: base[t] for t in common})
    return f"{value:+.2f}" + mark(
        f"{table.label}: Δm% of the published column against the paper's own "
        f"{ref_col} column, over the {len(common)} task(s) of this grid."
    )


__all__ = [
    "RESULT_COLUMNS",
    "PublishedColumns",
    "SummaryContext",
    "delta_m_by_method",
    "read_results_csv",
    "render_summary",
    "task_means",
    "variant_section",
    "write_results_csv",
]

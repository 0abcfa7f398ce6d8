"""The figures of `textmtl report`, drawn with matplotlib (no pyplot: no global state, no display).

Each function takes plain data (task names, `{task: value}` mappings, lists of steps) and
returns a `Figure`; `png(fig)` turns it into PNG bytes. Sizes grow with the number of tasks so
that 16 tasks stay readable: task names are on the y axis of bar charts and on both axes of
heatmaps; curves of many tasks share one legend beside the plot.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

Series = tuple[Sequence[float], Sequence[float]]  # (steps, values)

WIDTH = 11.0  # inches, at DPI: about the width of the report page
DPI = 100
MARK_STYLES = (("#222222", "|"), ("#d62728", "d"), ("#2ca02c", "o"))  # (colour, marker) of the 1st, 2nd, ... mark


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def task_colors(tasks: Sequence[str]) -> dict[str, tuple]:
    """A distinct colour per task: tab10 up to 10 tasks, tab20 up to 20, then evenly spaced hues."""
    from matplotlib import colormaps

    n = len(tasks)
    if n <= 10:
        cmap, values = colormaps["tab10"], [i / 10 + 0.05 for i in range(n)]
    elif n <= 20:
        cmap = colormaps["tab20"]
        values = [((2 * i) % 20 + (2 * i) // 20) / 20 + 0.025 for i in range(n)]  # dark shades first
    else:
        cmap, values = colormaps["hsv"], [i / n for i in range(n)]
    return {t: cmap(v) for t, v in zip(tasks, values, strict=True)}


def _legend_beside(fig: Figure, ax, n: int) -> None:
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8 if n > 10 else 9,
        frameon=False,
        ncol=1 if n <= 24 else 2,
    )


def _value_range(values: Sequence[float], pad: float = 0.04) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    span = max(high - low, 0.02)
    return low - pad * span - 0.02 * span, high + pad * span


def score_bars(tasks: Sequence[str], series: Mapping[str, Mapping[str, float]], xlabel: str, title: str = "") -> Figure:
    """Horizontal bars per task, one bar per series (e.g. dev and test), axis zoomed on the values."""
    k, m = len(tasks), max(1, len(series))
    fig = Figure(figsize=(6.4, 1.2 + 0.3 * k * max(1, m / 2)))
    ax = fig.add_subplot()
    height = 0.8 / m
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    values = []
    for i, (label, scores) in enumerate(series.items()):
        y = np.arange(k) + (i - (m - 1) / 2) * height
        x = [scores.get(t, math.nan) for t in tasks]
        values += x
        ax.barh(y, x, height=height * 0.95, label=label, color=palette[i % len(palette)])
    ax.set_yticks(np.arange(k), list(tasks))
    ax.invert_yaxis()
    ax.set_xlim(*_value_range(values))
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
    if m > 1:
        ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return fig


def methods_vs_references(
    tasks: Sequence[str],
    scores: Mapping[str, Mapping[str, float]],
    references: Mapping[str, Mapping[str, float]],
    xlabel: str,
) -> Figure:
    """Small multiples, one per method: its score per task as bars, the references' as marks (the first
    a black tick, the second a red diamond, any further ones green dots)."""
    methods = list(scores)
    cols = min(3, max(1, len(methods)))
    rows = math.ceil(len(methods) / cols)
    k = len(tasks)
    fig = Figure(figsize=(WIDTH, 0.6 + rows * (1.0 + 0.22 * max(k, 4))))
    everything = [v for s in (*scores.values(), *references.values()) for v in s.values()]
    low, high = _value_range(everything)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    y = np.arange(k)
    for n, method in enumerate(methods):
        ax = axes[n // cols][n % cols]
        ax.barh(
            y,
            [scores[method].get(t, math.nan) for t in tasks],
            height=0.7,
            color="#1f77b4",
            alpha=0.85,
            label="method (bars)",
        )
        for i, (name, ref) in enumerate(references.items()):
            colour, marker = MARK_STYLES[min(i, len(MARK_STYLES) - 1)]
            ax.scatter(
                [ref.get(t, math.nan) if name != method else math.nan for t in tasks],
                y,
                marker=marker,
                s=90 if marker == "|" else 26,
                color=colour,
                zorder=3,
                label=name,
                linewidths=2.2 if marker == "|" else 0.5,
            )
        ax.set_title(method, fontsize=11)
        ax.set_yticks(y, list(tasks), fontsize=8 if k > 10 else 9)
        ax.set_xlim(low, high)
        ax.set_ylim(k - 0.5, -0.5)
        ax.grid(axis="x", alpha=0.3)
        if n // cols == rows - 1 or n + cols >= len(methods):
            ax.set_xlabel(xlabel)
            ax.xaxis.set_tick_params(labelbottom=True)
    for n in range(len(methods), rows * cols):
        axes[n // cols][n % cols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="upper center", ncol=len(labels), frameon=False, fontsize=9, bbox_to_anchor=(0.5, 1.0)
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return fig


def delta_m_bars(values: Mapping[str, float], reference: str) -> Figure:
    """Δm% per method against `reference`, sorted, positive (better than the reference) in green."""
    items = sorted(values.items(), key=lambda kv: kv[1], reverse=True)
    fig = Figure(figsize=(WIDTH * 0.7, 1.0 + 0.35 * len(items)))
    ax = fig.add_subplot()
    y = np.arange(len(items))
    v = [x for _, x in items]
    ax.barh(y, v, color=["#2ca02c" if x >= 0 else "#d62728" for x in v], height=0.65)
    for yi, x in zip(y, v, strict=True):
        ax.annotate(
            f"{x:+.2f}",
            (x, yi),
            xytext=(4 if x >= 0 else -4, 0),
            textcoords="offset points",
            ha="left" if x >= 0 else "right",
            va="center",
            fontsize=9,
        )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, [m for m, _ in items])
    ax.invert_yaxis()
    span = max([abs(x) for x in v] + [0.1])
    ax.set_xlim(min(0, min(v)) - 0.25 * span, max(0, max(v)) + 0.25 * span)
    ax.set_xlabel(f"Δm% vs {reference} (higher is better)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def curves(
    panels: Sequence[tuple[str, Mapping[str, Series]]],
    tasks: Sequence[str],
    extra: Mapping[int, Mapping[str, Series]] | None = None,
    xlabel: str = "step",
) -> Figure:
    """Side-by-side panels of per-task curves (`(ylabel, {task: (steps, values)})`) with one legend;
    `extra[i]` adds bold black curves (e.g. the dev average) to panel i."""
    colors = task_colors(tasks)
    fig = Figure(figsize=(WIDTH, 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for i, (ax, (ylabel, data)) in enumerate(zip(axes, panels, strict=True)):
        for task in tasks:
            if task in data and len(data[task][0]):
                steps, values = data[task]
                ax.plot(
                    steps,
                    values,
                    color=colors[task],
                    linewidth=1.2,
                    label=task,
                    marker="o" if len(steps) < 3 else None,
                    markersize=3,
                )
        for label, (steps, values) in ((extra or {}).get(i) or {}).items():
            ax.plot(steps, values, color="black", linewidth=2.4, label=label, marker="o" if len(steps) < 3 else None)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(1.0, 0.95),
        fontsize=8 if len(labels) > 10 else 9,
        frameon=False,
    )
    fig.tight_layout()
    return fig


def heatmap(
    matrix: Sequence[Sequence[float]],
    rows: Sequence[str],
    cols: Sequence[str],
    title: str,
    colorbar: str,
    diverging: bool = True,
    limit: float | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> Figure:
    """A labelled heatmap; `diverging`: red-blue centred at 0 (cosines), else a sequential map.
    Values are printed in the cells while there are at most 10 columns."""
    data = np.asarray(matrix, dtype=float)
    n_r, n_c = data.shape
    size = min(7.0, 2.2 + 0.34 * max(n_r, n_c))
    fig = Figure(figsize=(size + 1.5, size * n_r / max(n_c, 1) + 0.8))
    ax = fig.add_subplot()
    if diverging:
        off = data[~np.eye(n_r, n_c, dtype=bool)] if n_r == n_c else data.ravel()
        bound = limit
        if bound is None:  # the off-diagonal range: the diagonal (cosine 1) would wash out the rest
            bound = float(np.nanmax(np.abs(off))) if off.size and np.isfinite(off).any() else 1.0
        bound = bound or 1.0
        image = ax.imshow(data, cmap="RdBu", norm=TwoSlopeNorm(0.0, -bound, bound))
    else:
        image = ax.imshow(data, cmap="viridis", vmin=0, vmax=limit)
    ax.set_xticks(
        range(n_c), list(cols), rotation=60, ha="right", rotation_mode="anchor", fontsize=8 if n_c > 10 else 9
    )
    ax.set_yticks(range(n_r), list(rows), fontsize=8 if n_r > 10 else 9)
    if n_c <= 10 and n_r <= 16:
        for i in range(n_r):
            for j in range(n_c):
                if math.isfinite(data[i, j]):
                    dark = (
                        abs(float(image.norm(data[i, j])) - 0.5) > 0.3  # type: ignore[arg-type]
                        if diverging
                        else data[i, j] < np.nanmean(data)
                    )
                    ax.text(
                        j,
                        i,
                        f"{data[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if dark else "black",
                    )
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=9)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=9)
    ax.set_title(title, fontsize=11)
    fig.colorbar(image, ax=ax, label=colorbar, shrink=0.8)
    fig.tight_layout()
    return fig


def heatmap_steps(
    matrices: Sequence[tuple[int, Sequence[Sequence[float]]]], tasks: Sequence[str], colorbar: str
) -> Figure:
    """Small multiples of a task x task matrix at a few steps, on one red-blue scale centred at 0."""
    n = len(matrices)
    fig = Figure(figsize=(WIDTH, WIDTH / n * 1.02 + 0.9))
    axes = fig.subplots(1, n, squeeze=False)[0]
    arrays = [np.asarray(m, dtype=float) for _, m in matrices]
    off = np.concatenate([a[np.eye(*a.shape) == 0] for a in arrays]) if arrays else np.zeros(1)
    bound = float(np.nanmax(np.abs(off))) if off.size and np.isfinite(off).any() else 1.0
    norm = TwoSlopeNorm(0.0, -(bound or 1.0), bound or 1.0)
    image = None
    for i, (ax, (step, _), a) in enumerate(zip(axes, matrices, arrays, strict=True)):
        image = ax.imshow(a, cmap="RdBu", norm=norm)
        ax.set_title(f"step {step}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks(range(len(tasks)), list(tasks) if i == 0 else [], fontsize=6 if len(tasks) > 10 else 8)
    if image is not None:
        fig.colorbar(image, ax=list(axes), label=colorbar, shrink=0.8, pad=0.01)
    return fig


def conflict_evolution(
    steps: Sequence[float],
    share: Sequence[float],
    mean_cosine: Sequence[float],
    norms: Mapping[str, Series],
    tasks: Sequence[str],
) -> Figure:
    """Left: share of conflicting task pairs (cosine < 0) and mean pairwise cosine per evaluation;
    right: each task's gradient norm."""
    fig = Figure(figsize=(WIDTH, 3.6))
    left, right = fig.subplots(1, 2)
    marker = "o" if len(steps) < 30 else None
    left.plot(steps, share, color="#d62728", marker=marker, markersize=3, label="conflicting pairs (cos < 0)")
    left.set_ylim(0, 1)
    left.set_ylabel("share of task pairs")
    left.set_xlabel("step")
    left.grid(alpha=0.3)
    twin = left.twinx()
    twin.plot(steps, mean_cosine, color="#1f77b4", marker=marker, markersize=3, label="mean pairwise cosine")
    twin.axhline(0, color="#1f77b4", linewidth=0.6, linestyle=":")
    twin.set_ylabel("mean pairwise cosine", color="#1f77b4")
    handles = left.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    left.legend(
        handles,
        [h.get_label() for h in handles],
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    colors = task_colors(tasks)
    for task in tasks:
        if task in norms:
            right.plot(*norms[task], color=colors[task], linewidth=1.2, label=task)
    right.set_yscale("log")
    right.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    right.yaxis.set_minor_formatter(NullFormatter())
    right.set_xlabel("step")
    right.set_ylabel("gradient norm (log scale)")
    right.grid(alpha=0.3)
    _legend_beside(fig, right, len(tasks))
    fig.tight_layout()
    return fig


def lines(
    series: Mapping[str, Series],
    tasks: Sequence[str],
    ylabel: str,
    xlabel: str = "step",
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """One line per key of `series` (tasks, or methods with `labels` naming their colour groups)."""
    keys = [t for t in tasks if t in series]
    colors = task_colors(list(dict.fromkeys((labels or {}).get(k, k) for k in keys)))
    fig = Figure(figsize=(WIDTH * 0.85, 3.8))
    ax = fig.add_subplot()
    seen: set[str] = set()
    for key in keys:
        group = (labels or {}).get(key, key)
        steps, values = series[key]
        ax.plot(
            steps,
            values,
            color=colors[group],
            linewidth=1.3,
            label=None if group in seen else group,
            marker="o" if len(steps) < 3 else None,
            markersize=3,
        )
        seen.add(group)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    _legend_beside(fig, ax, len(seen))
    fig.tight_layout()
    return fig


__all__ = [
    "conflict_evolution",
    "curves",
    "delta_m_bars",
    "heatmap",
    "heatmap_steps",
    "lines",
    "methods_vs_references",
    "png",
    "score_bars",
    "task_colors",
]

"""The report of one run: per-task scores, curves, gradient conflicts, task weights, architecture matrices."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import figures
from .page import Report, Section, _duration, _metric_label, _pct, _table
from .run_data import RunData, _as_array, _finite, _matrix_ok, _mean_off_diagonal, _series, _spread

#: how the report names an architecture (others: by their registered name)
ARCHITECTURES = {
    "hard": "hard parameter sharing",
    "separate": "one model per task (STL: nothing shared)",
    "shared_private": "shared-private (SP-MTL)",
    "adversarial": "adversarial shared-private (ASP-MTL)",
    "mmoe": "multi-gate mixture of experts (MMoE)",
    "hierarchical": "hierarchical (tasks supervised at different layers)",
    "graph_complete": "graph MTL, complete graph",
    "graph_star": "graph MTL, star graph",
}


def run_report(run: RunData) -> Report:
    tasks = run.tasks
    images: dict[str, bytes] = {}
    sections: list[Section] = []

    def add(name: str, fig) -> str:
        images[name] = figures.png(fig)
        return name

    joint = [r for r in run.history if ":" not in str(r.get("job", ""))]  # one job training every task
    separate = len(joint) < len(run.history)  # e.g. stl: one job per task, steps restart per job
    metric = {t: run.main_metric(t) for t in tasks}
    metric_label = _metric_label(metric)

    # --- per-task scores
    s = Section("Per-task scores")
    if run.metrics and run.metrics.get("tasks"):
        split_scores = {
            split: {
                t: v[split][metric[t]]
                for t, v in run.metrics["tasks"].items()
                if metric[t] and _finite((v.get(split) or {}).get(metric[t]))
            }
            for split in ("dev", "test")
        }
        split_scores = {split: v for split, v in split_scores.items() if v}  # a protocol without a dev set
        splits = " and ".join(split_scores)
        if split_scores:
            s.intro = f"{splits.capitalize()} {html.escape(metric_label)} of the saved model (metrics.json)."
            s.figures.append(
                (add("scores.png", figures.score_bars(tasks, split_scores, metric_label)), f"per-task {splits} scores")
            )
        else:
            s.notes.append("metrics.json has no finite dev or test score: no score chart.")
        s.html = _run_score_table(run, tasks, metric)
        s.beside = True
    elif run.history:
        last = run.history[-1]
        s.notes.append("No metrics.json (an unfinished run): the scores are the last dev evaluation in history.jsonl.")
        dev = {
            t: v[metric[t]] for t, v in (last.get("dev") or {}).items() if metric.get(t) and _finite(v.get(metric[t]))
        }
        s.figures.append(
            (add("scores.png", figures.score_bars(tasks, {"dev": dev}, metric_label)), "per-task dev scores")
        )
    s.notes.append(
        "Comparisons with single-task learning (STL) and linear scalarisation (LS) are in the report "
        "of a benchmark directory: `textmtl report runs/grids/<suite>/`."
    )
    sections.append(s)

    # --- training curves
    s = Section("Training curves")
    if run.history:
        loss = {t: _series(run.history, lambda r, t=t: (r.get("train_loss") or {}).get(t)) for t in tasks}  # type: ignore[misc]
        dev = {
            t: _series(run.history, lambda r, t=t: ((r.get("dev") or {}).get(t) or {}).get(metric[t] or ""))  # type: ignore[misc]
            for t in tasks
        }
        extra = {}
        if joint and not separate:
            extra = {1: {"dev average": _series(joint, lambda r: r.get("dev_average"))}}
        if any(steps for steps, _ in dev.values()):
            panels = [("training loss", loss), (f"dev {metric_label}", dev)]
            s.intro = (
                "Left: each task's training loss (running mean over steps); right: each task's dev "
                f"{html.escape(metric_label)} at every evaluation"
                + (", with the task average in black." if extra else ".")
            )
        else:
            panels, extra = [("training loss", loss)], {}
            s.intro = (
                "Each task's training loss (running mean over steps) at every evaluation; the run has no "
                "dev scores (its protocol has no dev set), so there are no dev curves."
            )
        if separate:
            s.notes.append("Each task was trained on its own (one job per task): the steps are counted per task.")
        s.figures.append((add("curves.png", figures.curves(panels, tasks, extra)), "training curves"))
    else:
        s.notes.append("history.jsonl has no evaluation records: no curves.")
    sections.append(s)

    # --- gradient conflicts
    s = Section("Gradient conflicts")
    diag = [r for r in run.history if isinstance(r.get("gradients"), dict) and _matrix_ok(r["gradients"].get("cosine"))]
    if diag:
        last = diag[-1]["gradients"]
        names = [str(t) for t in last.get("tasks", tasks)]
        if len(names) != len(last["cosine"]):  # not as the diagnostics write it: number the rows
            names = [str(i + 1) for i in range(len(last["cosine"]))]
        s.intro = (
            "Cosine similarity between the tasks' gradients on the shared parameters at an evaluation "
            "step (red: the tasks pull apart, blue: together), then how it evolved."
        )
        s.figures.append(
            (
                add(
                    "conflicts.png",
                    figures.heatmap(
                        _as_array(last["cosine"]),
                        names,
                        names,
                        f"gradient cosine, step {diag[-1]['step']} (last evaluation)",
                        "cosine similarity",
                    ),
                ),
                "gradient cosine heatmap at the last evaluation",
            )
        )
        same = [r for r in diag if [str(t) for t in r["gradients"].get("tasks", [])] == names]
        picks = _spread(same, 4)
        if len(picks) > 1:
            s.figures.append(
                (
                    add(
                        "conflicts-steps.png",
                        figures.heatmap_steps(
                            [(r["step"], _as_array(r["gradients"]["cosine"])) for r in picks],
                            names,
                            "cosine similarity",
                        ),
                    ),
                    "gradient cosine heatmaps at a few steps",
                )
            )
        share = _series(diag, lambda r: r["gradients"].get("conflicting_pairs"))
        cosine = _series(diag, lambda r: _mean_off_diagonal(_as_array(r["gradients"]["cosine"])))
        norms = {t: _series(diag, lambda r, t=t: (r["gradients"].get("grad_norms") or {}).get(t)) for t in names}  # type: ignore[misc]
        if share[0] and len(share[0]) == len(cosine[0]):
            s.figures.append(
                (
                    add(
                        "conflicts-evolution.png",
                        figures.conflict_evolution(share[0], share[1], cosine[1], norms, names),
                    ),
                    "evolution of gradient conflicts",
                )
            )
    else:
        s.notes.append(
            f"No gradient diagnostics in history.jsonl: method '{run.method}' does not compute "
            "per-task gradients (linear scalarisation and loss-weighting methods do not), so there is "
            "no conflict heatmap."
        )
    sections.append(s)

    # --- task weights
    s = Section("Task weights over time")
    weights = {t: _series(run.history, lambda r, t=t: (r.get("weights") or {}).get(t)) for t in tasks}  # type: ignore[misc]
    weights = {t: v for t, v in weights.items() if v[0]}
    if weights:
        s.intro = "The weight the method gave each task's loss or gradient at the evaluation steps."
        s.figures.append((add("weights.png", figures.lines(weights, tasks, "task weight")), "task weights over time"))
        if all(len(set(v[1])) == 1 for v in weights.values()) and len({v[1][0] for v in weights.values()}) == 1:
            s.notes.append(f"Every task has the same constant weight ({next(iter(weights.values()))[1][0]:g}).")
    else:
        s.notes.append("No task weights in history.jsonl.")
    sections.append(s)

    # --- matrices an architecture records
    sections.append(
        _matrix_section(
            run,
            add,
            "communication",
            "Task communication",
            "How much each task's node reads from every other task's (rows: receiving task).",
            "not a graph architecture (graph_complete, graph_star)",
            ("sending task j", "receiving task k"),
        )
    )
    gates = _mmoe_section(run, add, tasks)
    if gates is not None:
        sections.append(gates)

    facts = [("run", run.name), ("method", run.method)]
    model: dict[str, Any] = run.config["model"] if isinstance(run.config.get("model"), dict) else {}
    encoder: dict[str, Any] = model["encoder"] if isinstance(model.get("encoder"), dict) else {}
    architecture = "separate" if run.method == "stl" else str(model.get("architecture", "?"))  # older stl runs: hard
    facts.append(("model", f"{ARCHITECTURES.get(architecture, architecture)}, {encoder.get('type', '?')} encoder"))
    if run.metrics:
        facts += [
            ("seed", str(run.metrics.get("seed", "?"))),
            ("steps", str(run.metrics.get("steps", "?"))),
            ("training time", _duration(run.metrics.get("wall_seconds"))),
        ]
        avg = run.metrics.get("average") or {}
        if _finite(avg.get("test")):
            facts.append(("test average", f"{100 * avg['test']:.2f}"))
    else:
        facts.append(("status", "unfinished (no metrics.json)"))
    facts.append(
        (
            "evaluations",
            str(len(run.history)) + (f" ({run.bad_lines} unreadable lines skipped)" if run.bad_lines else ""),
        )
    )
    facts.append((f"tasks ({len(tasks)})", ", ".join(tasks)))
    return Report(f"textmtl run {run.name}", facts, tasks, sections, images, run.path)


def _matrix_section(
    run: RunData, add, key: str, title: str, intro: str, missing: str, axes: tuple[str, str] = ("", "")
) -> Section:
    """A K x K matrix an architecture records as `{tasks, matrix}` under `key` (last dev evaluation;
    the test one of metrics.json too)."""
    s = Section(title)
    found = [
        (f"dev, step {r['step']} (last evaluation)", r[key])
        for r in run.history
        if isinstance(r.get(key), dict) and _matrix_ok(r[key].get("matrix"))
    ][-1:]
    test = (((run.metrics or {}).get("architecture") or {}).get("test") or {}).get(key)
    if isinstance(test, dict) and _matrix_ok(test.get("matrix")):
        found.append(("test set (metrics.json)", test))
    if not found:
        s.notes.append(f"No {title.lower()} matrix in this run: {missing}.")
        return s
    s.intro = html.escape(intro)
    definition = found[-1][1].get("definition")
    if isinstance(definition, str):
        s.intro += f" <span class=muted>{html.escape(definition)}</span>"
    for i, (where, value) in enumerate(found):
        names = [str(t) for t in value.get("tasks", [])]
        matrix = _as_array(value["matrix"])
        if len(names) != len(matrix):
            names = [str(i) for i in range(len(matrix))]
        cols = names if len(matrix[0]) == len(names) else [str(j) for j in range(len(matrix[0]))]
        a = np.asarray(matrix, dtype=float)
        diverging = bool(np.nanmin(a) < 0) if np.isfinite(a).any() else False
        s.figures.append(
            (
                add(
                    f"{key}-{i + 1}.png",
                    figures.heatmap(
                        matrix,
                        names,
                        cols,
                        f"{title.lower()}, {where}",
                        key,
                        diverging=diverging,
                        xlabel=axes[0],
                        ylabel=axes[1],
                    ),
                ),
                f"{title} {where}",
            )
        )
    return s


def _mmoe_section(run: RunData, add, tasks: list[str]) -> Section | None:
    gates = [r for r in run.history if isinstance(r.get("mmoe_gates"), dict) and r["mmoe_gates"]]
    if not gates:
        return None
    last = gates[-1]["mmoe_gates"]
    names = [t for t in tasks if isinstance(last.get(t), list)] or [str(t) for t in last]
    rows = [last[t] for t in names]
    if not _matrix_ok(rows):
        return None
    s = Section("MMoE expert gates", "Mean gate weight of each expert for each task's dev inputs (last evaluation).")
    experts = [f"expert {j + 1}" for j in range(len(rows[0]))]
    s.figures.append(
        (
            add(
                "mmoe-gates.png",
                figures.heatmap(
                    _as_array(rows), names, experts, "MMoE gates", "mean gate weight", diverging=False, limit=1.0
                ),
            ),
            "MMoE gates",
        )
    )
    return s


def _run_score_table(run: RunData, tasks: list[str], metric: Mapping[str, str | None]) -> str:
    rows = []
    for t in tasks:
        scores = (run.metrics or {}).get("tasks", {}).get(t) or {}
        m = metric[t] or ""
        cells = [html.escape(t), html.escape(m)] + [_pct((scores.get(split) or {}).get(m)) for split in ("dev", "test")]
        rows.append(cells)
    avg = (run.metrics or {}).get("average") or {}
    rows.append(["<b>average</b>", "", _pct(avg.get("dev")), _pct(avg.get("test"))])
    return _table(["task", "metric", "dev", "test"], rows, numeric_from=2)

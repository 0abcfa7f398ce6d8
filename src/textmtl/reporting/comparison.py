"""`textmtl report RUN RUN ...` and `textmtl summarize RUN RUN ...`: runs given on the command line,
compared without a suite. Runs are grouped by their method (seeds of one method form a group);
every task shows its own main metric (MCC for CoLA, entity F1 for NER, ...)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import TextmtlError
from . import figures
from .page import Report, Section, markdown_to_html
from .run_data import load_run_data
from .summary import GroupSummary, markdown_table, significance_table, summarize


def group_runs(run_dirs: list[Path]) -> dict[str, list[Path]]:
    """Finished runs by method (in the order first seen); a method run with several configs (names
    differing beyond the seed) stays one group: label groups by hand (LABEL=GLOB) to split them."""
    groups: dict[str, list[Path]] = {}
    for d in run_dirs:
        path = Path(d) / "metrics.json"
        try:
            method = str(json.loads(path.read_text(encoding="utf-8"))["method"])
        except FileNotFoundError:
            raise TextmtlError(f"{d}: not a finished run directory (no metrics.json)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise TextmtlError(f"{path}: unreadable metrics ({type(exc).__name__})") from None
        groups.setdefault(method, []).append(Path(d))
    return groups


def comparison_report(run_dirs: list[Path], baseline: str | None = None) -> Report:
    """A page comparing finished runs: per-task test scores of each group (mean ± std over seeds),
    paired differences to a baseline group, and every run's dev-average curve."""
    groups = group_runs(run_dirs)
    summaries: list[GroupSummary] = [summarize(label, dirs) for label, dirs in groups.items()]
    images: dict[str, bytes] = {}
    sections: list[Section] = []
    scores = Section("Per-task test scores")
    scores.intro = (
        "Mean ± std over the seeds of each group (runs grouped by method); each task shows its own main metric."
    )
    scores.html = markdown_to_html(markdown_table(summaries))
    tasks = list(summaries[0].per_task)
    series = {s.label: {t: v[0] for t, v in s.per_task.items()} for s in summaries}
    images["scores.png"] = figures.png(figures.score_bars(tasks, series, "test score (main metric)"))
    scores.figures.append(("scores.png", "per-task test scores of each group"))
    sections.append(scores)
    labels = [s.label for s in summaries]
    reference = baseline or ("ls" if "ls" in labels else labels[0])
    if len(summaries) > 1:
        if reference not in labels:
            raise TextmtlError(f"--baseline: no group '{reference}' among {', '.join(labels)}")
        paired = Section(f"Paired differences to {reference}")
        paired.html = markdown_to_html(significance_table(summaries, reference))
        sections.append(paired)
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for d in run_dirs:
        run = load_run_data(Path(d))
        points = [(r["step"], r["dev_average"]) for r in run.history if isinstance(r.get("dev_average"), (int, float))]
        if points:
            curves[run.name] = ([p[0] for p in points], [p[1] for p in points])
    if curves:
        dev = Section("Dev average during training")
        images["dev.png"] = figures.png(figures.curves([("dev average", curves)], list(curves)))
        dev.figures.append(("dev.png", "dev average of every run"))
        sections.append(dev)
    facts = [("runs", str(len(run_dirs))), ("groups", ", ".join(f"{s.label} (n={len(s.seeds)})" for s in summaries))]
    return Report("textmtl: runs compared", facts, tasks, sections, images, Path(run_dirs[0]).parent)

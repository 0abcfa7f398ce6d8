"""Planning a grid: which runs (variant x method x seed) it has, which are done, which can resume."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import same_run
from ..errors import ConfigError, TextmtlError
from ..training.checkpoint import has_checkpoint
from .suite import Suite


@dataclass
class PlannedRun:
    variant: str
    method: str
    seed: int
    name: str
    config: dict[str, Any]  # complete run config except output.runs_dir / training.num_threads


# ------------------------------------------------------------------------------------ planning


def plan_runs(
    suite: Suite,
    *,
    quick: bool = False,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    variants: Sequence[str] | None = None,
) -> tuple[list[PlannedRun], list[PlannedRun]]:
    """(the grid, the runs selected by the filters). A filter may name a method or variant of the
    suite outside the quick grid, or any seed; those runs join the grid."""
    gv, gm, gs = suite.grid(quick)
    for option, values, known in (
        ("--methods", methods, list(suite.methods)),
        ("--variants", variants, list(suite.variants)),
    ):
        for v in values or []:
            if v not in known:
                import difflib

                close = difflib.get_close_matches(v, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"{option}: '{v}' is not in suite {suite.name}{hint}; known: {', '.join(known)}")
    sv, sm, ss = list(variants or gv), list(methods or gm), list(seeds or gs)

    def make(v: str, m: str, s: int) -> PlannedRun:
        return PlannedRun(v, m, s, _name(suite, v, m, s), suite.run_config(v, m, s, quick=quick))

    grid = {(v, m, s) for v in gv for m in gm for s in gs}
    selected_keys = [(v, m, s) for v in sv for m in sm for s in ss]
    # the grid in suite order: variants, then methods, then seeds; filter additions appended in place
    all_v = list(dict.fromkeys([*gv, *sv]))
    all_m = [m for m in suite.methods if m in set(gm) | set(sm)]
    all_s = list(dict.fromkeys([*gs, *ss]))
    keys = [(v, m, s) for v in all_v for m in all_m for s in all_s if (v, m, s) in grid or (v, m, s) in selected_keys]
    planned = [make(*k) for k in keys]
    chosen = set(selected_keys)
    return planned, [r for r in planned if (r.variant, r.method, r.seed) in chosen]


def _name(suite: Suite, v: str, m: str, s: int) -> str:
    from .suite import run_name

    return run_name(suite, v, m, s)


def is_done(run_dir: Path) -> bool:
    return (run_dir / "metrics.json").is_file()


def resumable(run: PlannedRun, runs_dir: Path) -> Path | None:
    """The run's `.partial` directory if it holds a checkpoint and was started with the config the
    suite gives now (a resume then ends as an uninterrupted run would); else None."""
    partial = runs_dir / f"{run.name}.partial"
    if has_checkpoint(partial / "checkpoint") and not (runs_dir / run.name).exists() and config_matches(run, partial):
        return partial
    return None


def config_matches(run: PlannedRun, run_dir: Path) -> bool:
    """Was the finished run trained with the config the suite gives now (`config.identity`)?"""
    try:
        stored = yaml.safe_load((run_dir / "config.yaml").read_text())
        return same_run(stored, run.config)
    except (OSError, yaml.YAMLError, TextmtlError):
        return False


# ------------------------------------------------------------------------------------ helpers


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_run(run: PlannedRun, workers: int) -> int | None:
    """The suite's `training.num_threads` if it sets one, else max(1, cores // workers)
    (None with workers = 0: in-process runs keep the process's setting)."""
    suite_value = (run.config.get("training") or {}).get("num_threads")
    if suite_value:
        return int(suite_value)
    return None if workers == 0 else max(1, available_cores() // workers)


@dataclass
class RunOutcome:
    run: PlannedRun
    ok: bool
    seconds: float
    message: str = ""

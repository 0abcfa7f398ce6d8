"""Benchmark grids: suites (methods × seeds × variants) run with resumable worker processes."""

from .runner import BenchmarkInterrupted, BenchmarkReport, PlannedRun, plan_runs, run_benchmark
from .suite import Suite, builtin_suites, describe_grid, resolve_suite

__all__ = [
    "BenchmarkInterrupted",
    "BenchmarkReport",
    "PlannedRun",
    "Suite",
    "builtin_suites",
    "describe_grid",
    "plan_runs",
    "resolve_suite",
    "run_benchmark",
]

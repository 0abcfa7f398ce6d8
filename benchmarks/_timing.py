"""Shared helpers of the benchmark scripts: interleaved timing, per-step peak memory, machine info.

Nothing here asserts on time: benchmark scripts record numbers, the reader judges them.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

MEMORY_METHOD = (
    "torch.profiler.profile(profile_memory=True) around ONE extra step per row (after the timing "
    "loop, in the same process): the raw allocator events ('[memory]', CPU) are replayed in time "
    "order and the running sum of allocated minus freed bytes gives the peak. It is the peak of "
    "memory allocated DURING the step on top of what was held when it started (parameters, optimizer "
    "state); blocks allocated before the step (e.g. the previous step's .grad, freed by "
    "zero_grad(set_to_none=True)) are not visible to the profiler, so their frees are not subtracted. "
    "NumPy allocations of the K x K solvers are not counted (they are tiny)."
)

TIMING_METHOD = (
    "Round-robin over the rows of a scenario in ONE process: one untimed warm-up step per row, then "
    "R rounds; each round runs one step of every row (start row rotated every round), timed with "
    "time.perf_counter() with Python's garbage collector paused during the step (gc.collect() once per "
    "round, outside the steps). Reported: the median "
    "over the R rounds, and ratio_to_ls = median(row) / median(ls)."
)


@dataclass
class TimedRow:
    """One timed configuration: a label and a callable that performs one full step."""

    label: str
    step: Callable[[], None]
    info: dict = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)  # seconds
    error: str | None = None
    peak_memory_mb: float | None = None


def machine_info(threads: int) -> dict:
    """Platform, CPU count and library versions, for the JSON header."""
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "threads_requested": threads,
    }
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    info["omp_num_threads_env"] = os.environ.get("OMP_NUM_THREADS")
    try:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        pass
    for package in ("textmtl", "torchjd", "transformers", "numpy"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = None
    return info


def _timed(step: Callable[[], None]) -> float:
    gc.disable()  # collected once per round, outside the timed steps (a full collection costs ~0.1 s)
    try:
        start = time.perf_counter()
        step()
        return time.perf_counter() - start
    finally:
        gc.enable()


def run_interleaved(rows: list[TimedRow], rounds: int, *, warmup: int = 1,
                    progress: Callable[[str], None] | None = None) -> None:
    """Fill `row.samples` with `rounds` step times per row, interleaving the rows round-robin.

    A row whose step raises gets `row.error` and is skipped from then on (the run goes on).
    """
    def attempt(row: TimedRow) -> float | None:
        try:
            return _timed(row.step)
        except Exception as exc:  # noqa: BLE001 - a broken row must not lose the whole benchmark
            row.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            if progress:
                progress(f"  ! {row.label}: {row.error}")
            return None

    for _ in range(warmup):
        for row in rows:
            if row.error is None:
                attempt(row)
    n = len(rows)
    for r in range(rounds):
        gc.collect()
        order = rows[r % n:] + rows[: r % n] if n else []
        for row in order:
            if row.error is None:
                seconds = attempt(row)
                if seconds is not None:
                    row.samples.append(seconds)
        if progress:
            progress(f"  round {r + 1}/{rounds} done")


def median_ms(samples: list[float]) -> float | None:
    return 1000.0 * statistics.median(samples) if samples else None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null: Kineto prints two 'USDT: ... profiler_start/stop' lines
    per profiled step from C++ (KINETO_LOG_LEVEL does not stop them). Exceptions still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def step_peak_memory_mb(step: Callable[[], None]) -> float:
    """Peak of (bytes allocated - bytes freed) on the CPU during one call of `step`, in MiB."""
    from torch.profiler import ProfilerActivity, profile

    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for e in events:
        current += e.nbytes()
        peak = max(peak, current)
    return peak / 2**20


def measure_memory(rows: list[TimedRow], progress: Callable[[str], None] | None = None) -> None:
    """Set `row.peak_memory_mb` for every row that ran without error."""
    gc.collect()
    for row in rows:
        if row.error is not None:
            continue
        try:
            row.peak_memory_mb = step_peak_memory_mb(row.step)
        except Exception as exc:  # noqa: BLE001
            if progress:
                progress(f"  ! memory of {row.label}: {type(exc).__name__}: {exc}")


def summarize_rows(rows: list[TimedRow], baseline: str) -> list[dict]:
    """JSON rows: info fields + median_ms, ratio_to_ls (median / baseline median), memory, samples."""
    base = next((median_ms(r.samples) for r in rows if r.label == baseline), None)
    out = []
    for row in rows:
        med = median_ms(row.samples)
        out.append({
            **row.info,
            "median_ms": None if med is None else round(med, 3),
            "ratio_to_ls": None if med is None or not base else round(med / base, 3),
            "peak_memory_mb": None if row.peak_memory_mb is None else round(row.peak_memory_mb, 2),
            "samples_ms": [round(1000.0 * s, 3) for s in row.samples],
            "error": row.error,
        })
    return out


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)

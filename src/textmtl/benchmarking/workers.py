"""Executing planned runs: `textmtl train` worker processes (or in-process training), signals, stopping."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import yaml

from ..config import validate_config
from ..errors import TextmtlError
from ..files import atomic_write_text
from .plan import PlannedRun, RunOutcome, is_done, resumable
from .progress import _last_line


class BenchmarkInterrupted(TextmtlError):
    """SIGINT or SIGTERM stopped the benchmark; running workers were killed."""

    def __init__(self, signum: int, stopped: list[str]) -> None:
        self.signum = signum
        self.stopped = stopped
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(
            f"{name}: stopped {len(stopped)} running run(s) ({', '.join(stopped) or 'none'}); "
            "the next invocation continues them from their last checkpoint "
            "(or redoes them if they have none)"
        )


class _Stop(BaseException):
    def __init__(self, signum: int) -> None:
        self.signum = signum


# ------------------------------------------------------------------------------------ execution


class _Workers:
    """`textmtl train` subprocesses, one per run, each in its own session."""

    def __init__(self, out: Path, runs_dir: Path, data_dir: Path | None, workers: int) -> None:
        self.out, self.runs_dir, self.data_dir, self.workers = out, runs_dir, data_dir, workers
        self.procs: dict[str, tuple[subprocess.Popen, PlannedRun, float, IO]] = {}
        self._prctl = None
        if sys.platform.startswith("linux"):
            with contextlib.suppress(OSError):
                import ctypes

                self._prctl = ctypes.CDLL(None, use_errno=True).prctl

    def _die_with_parent(self) -> None:  # runs in the child between fork and exec
        if self._prctl is not None:
            self._prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the worker gets SIGTERM if we die

    def start(self, run: PlannedRun, config_path: Path, threads: int | None, resume: Path | None = None) -> None:
        if resume is None:
            cmd = [
                sys.executable,
                "-m",
                "textmtl",
                "train",
                str(config_path),
                "--name",
                run.name,
                "--runs-dir",
                str(self.runs_dir),
                "--quiet",
            ]
        else:  # the run's own config.yaml; only the thread count may change
            cmd = [sys.executable, "-m", "textmtl", "train", "--resume", str(resume), "--quiet"]
            if threads is not None:
                cmd += ["--set", f"training.num_threads={threads}"]
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        env = dict(os.environ)
        if threads is not None:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        log = open(self.out / "logs" / f"{run.name}.log", "a" if resume is not None else "w", encoding="utf-8")
        log.write(f"$ {shlex.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=self._die_with_parent,
        )
        self.procs[run.name] = (proc, run, time.monotonic(), log)

    def poll(self) -> list[RunOutcome]:
        done = []
        for name, (proc, run, t0, log) in list(self.procs.items()):
            code = proc.poll()
            if code is None:
                continue
            log.close()
            del self.procs[name]
            seconds = time.monotonic() - t0
            ok = code == 0 and is_done(self.runs_dir / name)
            message = "" if ok else (_last_line(self.out / "logs" / f"{name}.log") or f"exit code {code}")
            done.append(RunOutcome(run, ok, seconds, message))
        return done

    def stop_all(self, grace: float = 10.0) -> list[str]:
        """SIGTERM every worker's process group, SIGKILL what is left after `grace` seconds."""
        names = list(self.procs)
        for proc, _, _, _ in self.procs.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc, _, _, log in self.procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
        self.procs.clear()
        return names


def _prepare(run: PlannedRun, runs_dir: Path) -> Path | None:
    """The `.partial` directory to resume, if there is one (see `resumable`); otherwise remove what
    a crashed or killed attempt left behind and return None."""
    partial = resumable(run, runs_dir)
    if partial is not None:
        return partial
    shutil.rmtree(runs_dir / f"{run.name}.partial", ignore_errors=True)
    final = runs_dir / run.name
    if final.exists() and not is_done(final):
        shutil.rmtree(final, ignore_errors=True)
    return None


def _write_config(run: PlannedRun, out: Path, runs_dir: Path, threads: int | None) -> tuple[Path, dict]:
    data = json.loads(json.dumps(run.config))  # deep copy
    data.setdefault("output", {})["runs_dir"] = str(runs_dir)
    if threads is not None:
        data.setdefault("training", {})["num_threads"] = threads
    validate_config(data, f"run {run.name}")
    path = out / "configs" / f"{run.name}.yaml"
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
    return path, data


def _run_in_process(
    run: PlannedRun, data: dict, runs_dir: Path, data_dir: Path | None, out: Path, resume: Path | None = None
) -> RunOutcome:
    from ..training.lifecycle import train

    t0 = time.monotonic()
    try:
        if resume is None:
            train(data, name=run.name, runs_dir=runs_dir, data_dir=data_dir, progress=False)
        else:
            threads = data["training"].get("num_threads")
            train(
                overrides=[f"training.num_threads={threads}"] if threads else None,
                data_dir=data_dir,
                progress=False,
                resume=resume,
            )
    except TextmtlError as exc:
        (out / "logs" / f"{run.name}.log").write_text(f"error: {exc}\n")
        return RunOutcome(run, False, time.monotonic() - t0, str(exc))
    except Exception as exc:  # a bug in one run should not stop the grid
        (out / "logs" / f"{run.name}.log").write_text(traceback.format_exc())
        return RunOutcome(run, False, time.monotonic() - t0, f"{type(exc).__name__}: {exc}")
    return RunOutcome(run, is_done(runs_dir / run.name), time.monotonic() - t0)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGINT / SIGTERM into a `_Stop` exception in the main thread while the grid runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Stop(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)

"""Experiment tracking: TensorBoard event files and MLflow runs, fed the records of history.jsonl.

`output.logging: [tensorboard, mlflow]` turns them on (see `OutputConfig`). The run writer
hands every history record to every tracker, so each tracker holds exactly what history.jsonl
holds: `scalars(record)` turns a record into flat `name -> value` pairs (`dev/books/accuracy`,
`train_loss/books`, `weights/books`, `gradients/conflicting_pairs`, ...) at `record["step"]`,
under `clean_name(name)` (a task called `toy c` logs `dev/toy_c/accuracy`). Matrices (gradient
cosines, task communication) stay in history.jsonl only.

A method that trains each task on its own (`stl`) restarts the step count for every task; its
records are logged under `<task>/` so that the tasks' curves do not overlap.

Tracking is a side output: a tracker that fails while training warns once and stops, and the
run goes on (history.jsonl stays complete).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..config import ConfigBase as Config
from ..config import OutputConfig
from ..errors import ConfigError

TRACKING_FILE = "tracking.json"  # in the run directory: where the trackers write (MLflow run id, ...)
INSTALL_HINT = "pip install 'textmtl[tracking]'"
_NEEDS = {"tensorboard": ("tensorboardX",), "mlflow": ("mlflow",)}
_NEEDS_SQLITE = ("sqlalchemy", "alembic")


def scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a history record as flat `a/b/c` names (lists and strings left out)."""
    job = str(record.get("job", ""))
    prefix = job.split(":", 1)[1] + "/" if ":" in job else ""
    return {prefix + name: value for name, value in _leaves(record, ()) if name not in ("step", "job")}


def _leaves(node: Any, path: tuple[str, ...]) -> Iterator[tuple[str, float]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and math.isfinite(node):
        yield "/".join(path), float(node)


def check_backends(output: OutputConfig) -> None:
    """One clear error before anything is written if a back-end's package is missing."""
    for backend in output.logging:
        needed = list(_NEEDS[backend])
        if backend == "mlflow" and mlflow_uri(output, Path(output.runs_dir)).startswith("sqlite:"):
            needed += _NEEDS_SQLITE
        missing = [m for m in needed if importlib.util.find_spec(m) is None]
        if missing:
            raise ConfigError(
                f"output.logging: {backend} needs the package {', '.join(missing)}, "
                f"which is not installed: {INSTALL_HINT}"
            )


def mlflow_uri(output: OutputConfig, runs_dir: Path) -> str:
    """`output.mlflow_uri`, else an SQLite store beside the runs: `sqlite:///<runs_dir>/mlflow.db`."""
    return output.mlflow_uri or f"sqlite:///{runs_dir.resolve() / 'mlflow.db'}"


ARTIFACTS = ("config.yaml", "metrics.json", "history.jsonl", "model.json")  # logged to MLflow at the end


def artifact_location(uri: str) -> str | None:
    """Where a new MLflow experiment keeps its artefacts: `mlartifacts/` beside an SQLite store
    (MLflow's own default is `./mlruns` in the working directory); None (MLflow's default, inside
    the store) for a file store."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()
    return None


class Tracker:
    """Receives each history record; `close` says how the run ended."""

    name = "tracker"

    def log(self, record: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def close(self, status: str, run_dir: Path, files: Path | None = None) -> None:
        """`status`: FINISHED (the run is in `run_dir`; `files`: the folder holding its files now,
        before the rename), FAILED, or KILLED (kept for --resume)."""

    def describe(self) -> dict[str, Any]:
        """What goes into the run's tracking.json."""
        return {}


class TensorBoardTracker(Tracker):
    """Scalars into `<run>/tensorboard/` event files (tensorboardX; `tensorboard --logdir runs`)."""

    name = "tensorboard"

    def __init__(self, logdir: Path, purge_step: int | None = None) -> None:
        from tensorboardX import SummaryWriter

        self.logdir = logdir
        # event files are named by the second they were opened in: a resumed run's writer gets a suffix
        # so that it never reopens (and truncates) the first file, and sorts after it when read
        earlier = len(list(logdir.glob("events.out.tfevents.*"))) if logdir.is_dir() else 0
        self.writer = SummaryWriter(
            str(logdir), purge_step=purge_step, flush_secs=30, filename_suffix=f".resume{earlier}" if earlier else ""
        )

    def log(self, record: Mapping[str, Any]) -> None:
        step = int(record["step"])
        wall = time.time()
        for name, value in scalars(record).items():
            self.writer.add_scalar(clean_name(name), value, step, walltime=wall)
        self.writer.flush()

    def close(self, status: str, run_dir: Path, files: Path | None = None) -> None:
        self.writer.close()

    def describe(self) -> dict[str, Any]:
        return {"logdir": self.logdir.name}


class MLflowTracker(Tracker):
    """One MLflow run per textmtl run in a local store (SQLite or MLflow's file store)."""

    name = "mlflow"

    def __init__(
        self, uri: str, experiment: str, run_name: str, params: Mapping[str, str], run_id: str | None = None
    ) -> None:
        if uri.startswith("file:"):  # MLflow 3 refuses its file store unless asked explicitly
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.uri = uri
        try:
            with _quiet("mlflow", "alembic"):  # no INFO lines on creating the database
                self.client = MlflowClient(tracking_uri=uri)
                found = self.client.get_experiment_by_name(experiment) if run_id is None else None
            if run_id is None:
                experiment_id = (
                    found.experiment_id
                    if found is not None
                    else self.client.create_experiment(experiment, artifact_location=artifact_location(uri))
                )
                self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
                items = [Param(clean_name(k), v[:500]) for k, v in params.items()]
                for i in range(0, len(items), 100):  # MLflow takes at most 100 params per call
                    self.client.log_batch(self.run_id, params=items[i : i + 100])
            else:
                self.run_id = run_id
                self.client.update_run(run_id, status="RUNNING")
        except MlflowException as exc:
            raise ConfigError(f"output.mlflow_uri: MLflow store {uri}: {str(exc.message).splitlines()[0]}") from None

    def log(self, record: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        step, stamp = int(record["step"]), int(time.time() * 1000)
        metrics = [Metric(clean_name(k), v, stamp, step) for k, v in scalars(record).items()]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per call
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])

    def close(self, status: str, run_dir: Path, files: Path | None = None) -> None:
        if status == "FINISHED":
            self.client.set_tag(self.run_id, "textmtl.run_dir", str(run_dir.resolve()))
            if files is not None:
                self.log_files(files)
        self.client.set_terminated(self.run_id, status=status)

    def log_files(self, folder: Path) -> None:
        """The run's files as artefacts: config.yaml, metrics.json, history.jsonl, model.json and the
        run's report page (`textmtl report`, written into `<run>/report/`)."""
        for name in ARTIFACTS:
            if (folder / name).is_file():
                self.client.log_artifact(self.run_id, str(folder / name))
        try:
            from ..reporting.report import build_report

            page = build_report(folder)
        except Exception as exc:  # noqa: BLE001 - a report that cannot be drawn does not fail the run
            warnings.warn(f"mlflow tracking: no report artefact ({type(exc).__name__}: {exc})", stacklevel=2)
            return
        self.client.log_artifacts(self.run_id, str(page.parent), artifact_path="report")

    def describe(self) -> dict[str, Any]:
        return {"tracking_uri": self.uri, "run_id": self.run_id}


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """These loggers at WARNING for the block, their levels restored after."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def clean_name(name: str) -> str:
    """The name both back-ends log `name` under: letters, digits, `_-./` (others become `_`, as
    TensorBoard does), no empty or dot path segments (MLflow), at most 250 characters."""
    parts = [re.sub(r"[^-\w.]", "_", p) or "_" for p in name.split("/")]
    return "/".join("_" if p in (".", "..") else p for p in parts)[:250]


def _config_params(config: Config) -> dict[str, str]:
    """The config as flat MLflow params: `training.lr` -> `0.003`."""
    out: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        else:
            out[path] = json.dumps(node) if isinstance(node, (list, dict)) else str(node)

    walk(config.model_dump(mode="json"), "")
    return out


def open_trackers(
    config: Config, run_path: Path, runs_dir: Path, last_record: Mapping[str, Any] | None = None, resume: bool = False
) -> list[Tracker]:
    """The trackers of `output.logging`, writing for the run being written in `run_path`
    (its `.partial` directory). `resume`: continue those recorded in its tracking.json;
    `last_record`: the last history record kept, from which a resumed run goes on."""
    backends = config.output.logging
    if not backends:
        return []
    check_backends(config.output)
    saved: dict[str, Any] = {}
    if resume and (run_path / TRACKING_FILE).exists():
        saved = json.loads((run_path / TRACKING_FILE).read_text())
    trackers: list[Tracker] = []
    try:
        for backend in backends:
            if backend == "tensorboard":
                single_job = last_record is not None and ":" not in str(last_record.get("job", ""))
                purge = int(last_record["step"]) + 1 if resume and single_job and last_record else None  # re-logged
                trackers.append(TensorBoardTracker(run_path / "tensorboard", purge_step=purge))
            elif backend == "mlflow":
                old = saved.get("mlflow") or {}
                name = run_path.name.removesuffix(".partial")
                trackers.append(
                    MLflowTracker(
                        old.get("tracking_uri") or mlflow_uri(config.output, runs_dir),
                        config.output.mlflow_experiment or config.name,
                        name,
                        _config_params(config),
                        old.get("run_id"),
                    )
                )
    except BaseException:
        for t in trackers:
            t.close("FAILED", run_path)
        raise
    (run_path / TRACKING_FILE).write_text(json.dumps({t.name: t.describe() for t in trackers}, indent=2))
    return trackers


class Trackers:
    """The run's trackers as one: a tracker that fails warns once and is dropped."""

    def __init__(self, trackers: list[Tracker]) -> None:
        self.trackers = list(trackers)

    def log(self, record: Mapping[str, Any]) -> None:
        for t in list(self.trackers):
            try:
                t.log(record)
            except Exception as exc:  # noqa: BLE001 - tracking must not stop training
                warnings.warn(f"{t.name} tracking stopped: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)
                self.trackers.remove(t)

    def close(self, status: str, run_dir: Path, files: Path | None = None) -> None:
        for t in self.trackers:
            try:
                t.close(status, run_dir, files)
            except Exception as exc:  # noqa: BLE001
                warnings.warn(
                    f"{t.name} tracking: closing failed: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2
                )
        self.trackers = []


__all__ = [
    "INSTALL_HINT",
    "TRACKING_FILE",
    "MLflowTracker",
    "TensorBoardTracker",
    "Tracker",
    "Trackers",
    "check_backends",
    "clean_name",
    "mlflow_uri",
    "open_trackers",
    "scalars",
]

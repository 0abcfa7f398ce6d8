"""The run directory: config.yaml, history.jsonl, metrics.json, model.safetensors + model.json.

A run is written into `<name>.partial/` and renamed to `<name>/` only when complete, so a
crashed or interrupted run never leaves something that looks like a finished run.
`<name>.partial/checkpoint/` (see `checkpoint`) lets `textmtl train --resume` continue it.
Every history record also goes to the trackers of `output.logging` (see `tracking`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..config import ConfigBase as Config
from ..config import validate_config
from ..data.tasks import TaskSpec
from ..data.text_encoders import TextEncoder
from ..errors import ConfigError, ModelError, TrainingError
from ..files import atomic_write_text, sha256_file, sha256_json
from ..models.architectures import Architecture
from ..models.build import build_model
from ..models.encoders import PretrainedTransformer
from .tracking import Trackers, open_trackers

RUN_FORMAT = "textmtl-run/1"
TASKS_DIGEST = "textmtl.tasks_sha256"  # model.safetensors metadata: digest of model.json's tasks


LOCK_FILE = ".lock"  # in a `.partial` directory: locked (flock) by the process writing the run
METRICS_FILE = "metrics.json"  # written last: its presence marks a finished run


def unique_run_path(runs_dir: Path, name: str) -> Path:
    """`runs/<name>`, or `runs/<name>-2`, `-3`, ... if taken (a stale `.partial` does not count)."""
    candidate, n = runs_dir / name, 1
    while candidate.exists() or (_partial(candidate).exists() and not is_stale(_partial(candidate))):
        n += 1
        candidate = runs_dir / f"{name}-{n}"
    return candidate


def _partial(final: Path) -> Path:
    return final.with_name(final.name + ".partial")


def is_stale(partial: Path) -> bool:
    """A `.partial` directory nobody writes (its lock is free) that cannot be resumed (no checkpoint):
    what a run killed before its first checkpoint leaves behind."""
    from .checkpoint import has_checkpoint

    if has_checkpoint(partial / "checkpoint") or is_finished(partial):
        return False
    lock = partial / LOCK_FILE
    if not lock.exists():
        return True
    try:
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
    except BlockingIOError:
        return False  # a live run
    except OSError:
        return False
    return True


def is_finished(partial: Path) -> bool:
    """A `.partial` directory whose run had finished (metrics.json, written last and atomically, is
    there) but was not yet published: the process was killed during `commit`."""
    return (partial / METRICS_FILE).is_file()


def publish(partial: Path) -> Path:
    """Publish a finished run: drop what only resuming needed (checkpoint, lock), then rename
    `<name>.partial` to `<name>` (atomic). A kill at any point leaves either a finished `.partial`
    (published by `textmtl train --resume`, never removed as stale) or the published run."""
    final = partial.with_name(partial.name.removesuffix(".partial"))
    if final.exists():
        raise TrainingError(f"{partial}: cannot publish the finished run, {final} already exists")
    shutil.rmtree(partial / "checkpoint", ignore_errors=True)
    (partial / LOCK_FILE).unlink(missing_ok=True)
    os.replace(partial, final)
    return final


def check_runs_dir(runs_dir: Path) -> None:
    """One line (ConfigError) when the runs directory cannot be created or written, before any data is read."""
    probe = runs_dir
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(f"output.runs_dir: cannot create {runs_dir}: {probe} is a file, not a directory")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"output.runs_dir: cannot write in {probe} (permission denied or a read-only mount)")


def reserve_run_path(runs_dir: Path, name: str) -> tuple[Path, int]:
    """Create the run's `.partial` directory and lock it; a stale `.partial` of the same name is
    removed first. Returns the final path and the open, locked lock file descriptor.

    Processes reserving in one runs directory take turns (an exclusive lock on the directory itself):
    between another process's `mkdir` and its lock, its `.partial` would look stale (no lock held)
    and be removed under it."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        turn = os.open(runs_dir, os.O_RDONLY)
    except OSError as exc:
        raise TrainingError(f"output.runs_dir: cannot create {runs_dir} ({exc.strerror or exc})") from None
    try:
        fcntl.flock(turn, fcntl.LOCK_EX)
        for _ in range(1000):
            final = unique_run_path(runs_dir, name)
            partial = _partial(final)
            if partial.exists() and is_stale(partial):
                shutil.rmtree(partial, ignore_errors=True)
            try:
                partial.mkdir()
            except FileExistsError:
                continue  # a resumed run (which takes no turn) published or reopened this name meanwhile
            except OSError as exc:
                raise TrainingError(f"output.runs_dir: cannot create {partial} ({exc.strerror or exc})") from None
            return final, _lock(partial)
        raise TrainingError(f"output.runs_dir: no free run name for {name!r} in {runs_dir}")
    finally:
        os.close(turn)  # releases the turn


def _lock(partial: Path) -> int:
    """An exclusive lock on `partial/.lock`, held until the descriptor is closed; TrainingError if another
    process holds it (a second `--resume` of the same run)."""
    try:
        fd = os.open(partial / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        raise TrainingError(f"{partial}: cannot write the run ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise TrainingError(f"{partial}: another process is writing this run (its lock is held)") from None
    return fd


class RunWriter:
    """Writes a run into a `.partial` directory and publishes it atomically with `commit()`.
    The process writing it holds a lock on `.partial/.lock` (see `reserve_run_path`)."""

    def __init__(self, final_path: Path, config: Config, lock: int | None = None) -> None:
        self.final_path = final_path
        self.path = final_path.with_name(final_path.name + ".partial")
        if lock is None:
            self.path.mkdir(parents=True)
            lock = _lock(self.path)
        self._lock: int | None = lock
        try:
            (self.path / "config.yaml").write_text(config.to_yaml())
            self.trackers = Trackers(open_trackers(config, self.path, final_path.parent))
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            self._release()
            raise
        self._history = open(self.path / "history.jsonl", "a", encoding="utf-8")
        self.lines = 0  # records in history.jsonl

    @classmethod
    def reopen(cls, partial: Path, history_lines: int, config: Config | None = None) -> RunWriter:
        """Continue writing an interrupted run: history.jsonl is cut back to its first `history_lines`
        records; the trackers of `config` (the run's) go on from there."""
        self = cls.__new__(cls)
        self.path, self.final_path = partial, partial.with_name(partial.name.removesuffix(".partial"))
        if self.final_path.exists():
            raise TrainingError(f"--resume: {self.final_path} already exists; move it away to resume {partial}")
        self._lock = _lock(partial)  # TrainingError: held by another process, or not writable
        history = self.path / "history.jsonl"
        lines = history.read_text(encoding="utf-8").splitlines(keepends=True) if history.exists() else []
        complete = [line for line in lines[:history_lines] if line.endswith("\n")]
        if len(complete) < history_lines:
            raise TrainingError(f"{history}: {len(complete)} records, the checkpoint expects {history_lines}")
        try:
            atomic_write_text(history, "".join(complete))
        except OSError as exc:
            os.close(self._lock)
            raise TrainingError(f"{history}: cannot write the run ({exc.strerror or exc})") from None
        last = json.loads(complete[-1]) if complete else None
        trackers = open_trackers(config, partial, partial.parent, last, resume=True) if config is not None else []
        self.trackers = Trackers(trackers)
        self._history = open(history, "a", encoding="utf-8")
        self.lines = history_lines
        return self

    def record(self, record: dict) -> None:
        self._history.write(json.dumps(record) + "\n")
        self._history.flush()
        self.lines += 1
        self.trackers.log(record)

    def log_step(self, record: dict) -> None:
        """Training losses between evaluations: to the trackers only (history.jsonl keeps evaluations)."""
        self.trackers.log(record)

    def sync(self) -> None:
        """Flush history.jsonl to disk (before a checkpoint counts its records)."""
        self._history.flush()
        os.fsync(self._history.fileno())

    def save_model(self, model: Architecture, text_encoder: TextEncoder, method: str) -> None:
        frozen = model.frozen_state_keys()  # a frozen pretrained backbone: stored by reference, not copied
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in frozen}
        tasks = [s.to_dict() for s in model.specs.values()]
        # the weights carry a digest of the task specs: a model.json whose tasks or labels were changed
        # afterwards (labels swapped, say) no longer matches them and is refused when loaded
        save_file(
            _dedupe_shared(state), str(self.path / "model.safetensors"), metadata={TASKS_DIGEST: sha256_json(tasks)}
        )
        description = {
            "format": RUN_FORMAT,
            "method": method,
            "tasks": tasks,
            "text_encoder": text_encoder.save(self.path),
            "hf_config": _hf_config(model),
            "architecture": model.description(),  # informative: the model is rebuilt from config.yaml's `model`
        }
        if frozen:
            description["base_model"] = base_model_reference(model)
        (self.path / "model.json").write_text(json.dumps(description, indent=2))

    def write_metrics(self, metrics: dict) -> None:
        """The last file of a run (after the model): atomically, so its presence means finished."""
        atomic_write_text(self.path / METRICS_FILE, json.dumps(metrics, indent=2), durable=True)
        final = {
            "step": metrics.get("steps", 0),
            "final": {
                split: {task: scores[split] for task, scores in metrics.get("tasks", {}).items() if split in scores}
                for split in ("dev", "test")
            },
            "final_average": metrics.get("average", {}),
        }
        self.trackers.log(final)  # the final scores: `final/test/<task>/<metric>`, `final_average/test`

    def _release(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None:
            os.close(lock)
            self._lock = None

    def commit(self) -> Path:
        self._history.close()
        self.trackers.close(
            "FINISHED", self.final_path, self.path
        )  # event files closed, artefacts logged before the rename
        publish(self.path)
        self._release()
        return self.final_path

    def abort(self) -> None:
        """Remove the `.partial` directory (a clean error: nothing worth resuming). Closing the files
        may fail on a full or read-only disk; the directory is removed regardless."""
        with contextlib.suppress(OSError):
            self._history.close()
        with contextlib.suppress(OSError):
            self.trackers.close("FAILED", self.path)
        shutil.rmtree(self.path, ignore_errors=True)
        self._release()

    def keep(self) -> None:
        """Leave the `.partial` directory for `--resume` (an interruption after a checkpoint)."""
        with contextlib.suppress(OSError):
            self._history.close()
        with contextlib.suppress(OSError):
            self.trackers.close("KILLED", self.path)
        self._release()


def _dedupe_shared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory (tied weights); store clones."""
    seen: set[int] = set()
    out = {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr()
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out


def _hf_config(model: Architecture) -> dict | None:
    for module in model.modules():
        if isinstance(module, PretrainedTransformer):
            return module.hf_config()
    return None


@dataclass
class LoadedRun:
    path: Path
    config: Config
    model: Architecture
    text_encoder: TextEncoder
    specs: dict[str, TaskSpec]
    method: str


def base_model_reference(model: Architecture) -> dict[str, str]:
    """Where the frozen backbone's weights come from: its folder and the SHA-256 of its weights file."""
    from ..models.encoders.transformer import default_model_folder

    folder = Path(getattr(model, "base_folder", None) or default_model_folder()).resolve()
    return {"path": str(folder), "sha256": sha256_file(folder / "model.safetensors")}


def check_base_model(base: Any, where: Path) -> None:
    """The base model a run refers to is there and is the one it was trained on."""
    if not isinstance(base, dict) or not {"path", "sha256"} <= set(base):
        raise ModelError(f"{where}: base_model must give path and sha256")
    weights = Path(base["path"]) / "model.safetensors"
    if not weights.is_file():
        raise ModelError(
            f"{where}: the base model {base['path']} is not there (no model.safetensors); this run "
            "stores only its trained modules"
        )
    if sha256_file(weights) != base["sha256"]:
        raise ModelError(
            f"{where}: the base model at {base['path']} differs from the one this run was trained on "
            "(SHA-256 of model.safetensors)"
        )


def load_run(path: str | Path) -> LoadedRun:
    """Rebuild the model of a finished run from model.json + model.safetensors (no pretrained files needed).
    A damaged run (invalid YAML or JSON, weights that are not safetensors or do not match model.json)
    is a ModelError naming the file."""
    import yaml
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    for needed in ("config.yaml", "model.json", "model.safetensors"):
        if not (path / needed).exists():
            raise ModelError(f"{path}: not a finished textmtl run (missing {needed})")
    try:
        description = json.loads((path / "model.json").read_text())
    except (ValueError, OSError) as exc:
        raise ModelError(f"{path / 'model.json'}: invalid JSON ({exc})") from None
    if not isinstance(description, dict):
        raise ModelError(f"{path / 'model.json'}: expected a JSON object, got {type(description).__name__}")
    if description.get("format") != RUN_FORMAT:
        raise ModelError(f"{path / 'model.json'}: unknown run format {description.get('format')!r}")
    missing = [k for k in ("tasks", "text_encoder", "method") if k not in description]
    if missing:
        raise ModelError(f"{path / 'model.json'}: no {', '.join(missing)}; not written by textmtl")
    try:
        raw = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise ModelError(f"{path / 'config.yaml'}: not readable YAML ({' '.join(str(exc).split())[:120]})") from None
    config = validate_config(raw, str(path / "config.yaml"))
    try:
        specs = [TaskSpec.from_dict(d) for d in description["tasks"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{path / 'model.json'}: a task is not readable ({type(exc).__name__}: {exc})") from None
    weights = path / "model.safetensors"
    try:
        with safe_open(str(weights), framework="pt") as handle:
            stored = (handle.metadata() or {}).get(TASKS_DIGEST)
        state = load_file(str(weights))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{weights}: not readable safetensors ({str(exc).splitlines()[0]})") from None
    if stored is not None and stored != sha256_json(description["tasks"]):
        raise ModelError(
            f"{path / 'model.json'}: its tasks (names, labels or kinds) differ from those the weights were saved "
            "with; was it edited?"
        )
    text_encoder = TextEncoder.load(path, description["text_encoder"])
    base = description.get("base_model")
    if base is not None:  # only the trained part was stored: the frozen backbone comes from its folder
        check_base_model(base, path / "model.json")
        config.model.encoder.path = base["path"]
    model = build_model(
        config.model, specs, text_encoder, pretrained=base is not None, hf_config=description.get("hf_config")
    )
    try:
        if base is None:
            model.load_state_dict(state)
        else:
            missing, unexpected = model.load_state_dict(state, strict=False)
            trained_missing = sorted(set(missing) - model.frozen_state_keys())
            if trained_missing or unexpected:
                raise RuntimeError(f"missing {trained_missing[:3]}, unexpected {sorted(unexpected)[:3]}")
    except (RuntimeError, OSError) as exc:
        raise ModelError(f"{weights}: does not match model.json ({str(exc).splitlines()[0]})") from None
    model.eval()
    return LoadedRun(path, config, model, text_encoder, {s.name: s for s in specs}, description["method"])

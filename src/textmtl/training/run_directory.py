"""The run directory: config.yaml, history.jsonl, metrics.json, model.safetensors + model.json.

A run is written into `<name>.partial/` and renamed to `<name>/` only when complete, so a
crashed or interrupted run never leaves something that looks like a finished run.
`<name>.partial/checkpoint/` (see `checkpoint`) lets `textmtl train --resume` continue it.
Every history record also goes to the trackers of `output.logging` (see `tracking`).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..config import ConfigBase as Config
from ..config import validate_config
from ..data.tasks import TaskSpec
from ..data.text_encoders import TextEncoder
from ..errors import ModelError, TrainingError
from ..files import atomic_write_text
from ..models.architectures import Architecture
from ..models.build import build_model
from ..models.encoders import PretrainedTransformer
from .tracking import Trackers, open_trackers

RUN_FORMAT = "textmtl-run/1"


def unique_run_path(runs_dir: Path, name: str) -> Path:
    """`runs/<name>`, or `runs/<name>-2`, `-3`, ... if taken."""
    candidate, n = runs_dir / name, 1
    while candidate.exists() or candidate.with_name(candidate.name + ".partial").exists():
        n += 1
        candidate = runs_dir / f"{name}-{n}"
    return candidate


class RunWriter:
    """Writes a run into a `.partial` directory and publishes it atomically with `commit()`."""

    def __init__(self, final_path: Path, config: Config) -> None:
        self.final_path = final_path
        self.path = final_path.with_name(final_path.name + ".partial")
        self.path.mkdir(parents=True)
        try:
            (self.path / "config.yaml").write_text(config.to_yaml())
            self.trackers = Trackers(open_trackers(config, self.path, final_path.parent))
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
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
        history = self.path / "history.jsonl"
        lines = history.read_text(encoding="utf-8").splitlines(keepends=True) if history.exists() else []
        complete = [line for line in lines[:history_lines] if line.endswith("\n")]
        if len(complete) < history_lines:
            raise TrainingError(f"{history}: {len(complete)} records, the checkpoint expects {history_lines}")
        atomic_write_text(history, "".join(complete))
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
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(_dedupe_shared(state), str(self.path / "model.safetensors"))
        description = {
            "format": RUN_FORMAT,
            "method": method,
            "tasks": [s.to_dict() for s in model.specs.values()],
            "text_encoder": text_encoder.save(self.path),
            "hf_config": _hf_config(model),
            "architecture": model.description(),  # informative: the model is rebuilt from config.yaml's `model`
        }
        (self.path / "model.json").write_text(json.dumps(description, indent=2))

    def write_metrics(self, metrics: dict) -> None:
        (self.path / "metrics.json").write_text(json.dumps(metrics, indent=2))
        final = {
            "step": metrics.get("steps", 0),
            "final": {
                split: {task: scores[split] for task, scores in metrics.get("tasks", {}).items() if split in scores}
                for split in ("dev", "test")
            },
            "final_average": metrics.get("average", {}),
        }
        self.trackers.log(final)  # the final scores: `final/test/<task>/<metric>`, `final_average/test`

    def commit(self) -> Path:
        self._history.close()
        self.trackers.close(
            "FINISHED", self.final_path, self.path
        )  # event files closed, artefacts logged before the rename
        os.replace(self.path, self.final_path)
        return self.final_path

    def abort(self) -> None:
        """Remove the `.partial` directory (a clean error: nothing worth resuming)."""
        self._history.close()
        self.trackers.close("FAILED", self.path)
        shutil.rmtree(self.path, ignore_errors=True)

    def keep(self) -> None:
        """Leave the `.partial` directory for `--resume` (an interruption after a checkpoint)."""
        self._history.close()
        self.trackers.close("KILLED", self.path)


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


def load_run(path: str | Path) -> LoadedRun:
    """Rebuild the model of a finished run from model.json + model.safetensors (no pretrained files needed)."""
    path = Path(path)
    for needed in ("config.yaml", "model.json", "model.safetensors"):
        if not (path / needed).exists():
            raise ModelError(f"{path}: not a finished textmtl run (missing {needed})")
    try:
        description = json.loads((path / "model.json").read_text())
    except ValueError as exc:
        raise ModelError(f"{path / 'model.json'}: invalid JSON ({exc})") from None
    if description.get("format") != RUN_FORMAT:
        raise ModelError(f"{path / 'model.json'}: unknown run format {description.get('format')!r}")
    import yaml

    config = validate_config(yaml.safe_load((path / "config.yaml").read_text()), str(path / "config.yaml"))
    specs = [TaskSpec.from_dict(d) for d in description["tasks"]]
    text_encoder = TextEncoder.load(path, description["text_encoder"])
    model = build_model(config.model, specs, text_encoder, pretrained=False, hf_config=description.get("hf_config"))
    try:
        model.load_state_dict(load_file(str(path / "model.safetensors")))
    except (RuntimeError, OSError) as exc:
        raise ModelError(
            f"{path / 'model.safetensors'}: does not match model.json ({str(exc).splitlines()[0]})"
        ) from None
    model.eval()
    return LoadedRun(path, config, model, text_encoder, {s.name: s for s in specs}, description["method"])

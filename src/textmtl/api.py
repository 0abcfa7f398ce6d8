"""The Python API; the CLI is a thin layer over these functions.

    import textmtl
    result = textmtl.train("configs/fdu-mtl-quick.yaml")          # or a Config / dict
    result = textmtl.train({"data": {"tasks": ["books", "dvd"]}, "method": "ls"})
    textmtl.evaluate(result.path)
    textmtl.predict(result.path, "books", ["a great read", "dull and long"])
"""

from __future__ import annotations

import copy
import os
import random
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import ConfigBase as Config
from .config import apply_overrides, load_config, validate_config
from .data.batching import EncodedSplit, eval_batches
from .data.custom import load_custom_task
from .data.sets import get_benchmark, resolve_data_dir, sample_in_order
from .data.tasks import Example, TaskData, TaskKind, TaskSpec
from .data.text_encoders import TextEncoder
from .errors import ConfigError, TextmtlError, TrainingError
from .methods import make_method
from .models.architectures import Architecture
from .models.build import build_model, build_text_encoder
from .training.evaluation import EncodedTask, Evaluator, predict_batches, task_average
from .training.progress import Reporter, RichReporter
from .training.checkpoint import (RunCheckpoint, data_fingerprint, has_checkpoint, read_checkpoint, restore_trainer,
                                  set_rng_state)
from .training.distributed import StepSync, init_from_env, local_device, shutdown
from .training.run_directory import LoadedRun, RunWriter, load_run, unique_run_path
from .training.tracking import check_backends
from .training.trainer import FitResult, Trainer


@dataclass
class RunResult:
    path: Path
    metrics: dict[str, Any]


def as_config(config: Config | dict | str | Path, overrides: list[str] | None = None) -> Config:
    if isinstance(config, Config):
        return validate_config(apply_overrides(config.model_dump(mode="json"), overrides or []), "config") \
            if overrides else config
    if isinstance(config, dict):  # deep copy: overrides must not change the caller's dict
        return validate_config(apply_overrides(copy.deepcopy(config), overrides or []), "config")
    return load_config(config, overrides)


def _cap(examples: list[Example], n: int | None, subsample: str) -> list[Example]:
    """At most `n` examples: the first ones, or a fixed-seed random sample in file order."""
    if n is None:
        return examples
    return examples[:n] if subsample == "first" else sample_in_order(examples, n)


def load_tasks(config: Config, data_dir: str | Path | None = None) -> list[TaskData]:
    """Read every task the config names (benchmark tasks and custom tasks)."""
    d = config.data
    root = resolve_data_dir(data_dir or d.data_dir)
    tasks: list[TaskData] = []
    if d.benchmark is not None:
        tasks += get_benchmark(d.benchmark).load(
            root, d.tasks, dev_size=d.dev_size,
            merge_dev_into_train=d.merge_dev_into_train, skip_bad_lines=d.skip_bad_lines, unlabelled=d.unlabelled,
        )
    for custom in d.custom_tasks:
        spec = custom.model_dump()
        spec["fmt"] = spec.pop("format")
        if not d.unlabelled:
            spec["files"].pop("unlabelled", None)
        tasks.append(load_custom_task(**spec, skip_bad_lines=d.skip_bad_lines))
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f"data: task names must be unique, got {names}")
    for t in tasks:  # the caps apply to the final splits (after dev is held out or merged into train)
        t.train = _cap(t.train, d.max_train_examples, d.subsample)
        t.dev = _cap(t.dev, d.max_eval_examples, d.subsample)
        t.test = _cap(t.test, d.max_eval_examples, d.subsample)
    for t in tasks:
        if not t.train:
            raise ConfigError(f"data: task '{t.name}' has no training examples")
    unknown = [t for t in config.training.select_on or [] if t not in names]
    if unknown:
        raise ConfigError(f"training.select_on: no task named '{unknown[0]}' in this run (tasks: {', '.join(names)})")
    return tasks


def encode_tasks(tasks: list[TaskData], text_encoder: TextEncoder) -> dict[str, EncodedTask]:
    def split(kind: TaskKind, examples: list[Example]) -> EncodedSplit:
        return EncodedSplit(kind, text_encoder.encode_many(examples), examples)

    return {
        t.name: EncodedTask(t.spec, split(t.spec.kind, t.train), split(t.spec.kind, t.dev), split(t.spec.kind, t.test),
                            t.input_group, split(t.spec.kind, t.unlabelled) if t.unlabelled else None)
        for t in tasks
    }


def check_unlabelled(cfg: Config, model: Architecture, tasks: list[TaskData]) -> None:
    """`data.unlabelled` needs an architecture that reads unlabelled text and such text for every task."""
    if not cfg.data.unlabelled:
        return
    if not model.uses_unlabelled:
        raise ConfigError(f"data.unlabelled: architecture '{model.name}' does not use unlabelled text "
                          "(only 'adversarial' does: its task discriminator reads it)")
    missing = [t.name for t in tasks if not t.unlabelled]
    if missing:
        raise ConfigError(f"data.unlabelled: no unlabelled text for task(s) {', '.join(missing)}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(
    config: Config | dict | str | Path | None = None,
    *,
    overrides: list[str] | None = None,
    data_dir: str | Path | None = None,
    name: str | None = None,
    runs_dir: str | Path | None = None,
    reporter: Reporter | None = None,
    progress: bool = True,
    resume: str | Path | None = None,
) -> RunResult:
    """Train as the config says and write a run directory. Bad input raises a TextmtlError
    before anything is written.

    `resume`: an interrupted run's `<name>.partial` directory (or `<name>`); training continues
    from its last checkpoint with the run's own config.yaml (a `config` or `overrides`, if given,
    must agree with it) and ends exactly as an uninterrupted run would. On a TextmtlError the
    `.partial` directory is removed; on any other interruption it is kept if it holds a checkpoint.
    """
    saved, partial = None, None
    if resume is not None:
        if name is not None or runs_dir is not None:
            raise ConfigError("--resume continues a run in its own directory; --name and --runs-dir do not apply")
        partial = find_resumable(resume)
        cfg = resume_config(partial, config, overrides)
        saved = read_checkpoint(partial / "checkpoint")
    elif config is None:
        raise ConfigError("train: give a config (or --resume RUN_DIR)")
    else:
        cfg = as_config(config, overrides)
    sync = init_from_env(cfg.training.device)  # torchrun: every process runs this function
    try:
        result = _train(cfg, sync, saved, partial, data_dir=data_dir, name=name, runs_dir=runs_dir, reporter=reporter,
                        progress=progress)
    except BaseException:
        if sync.distributed:
            shutdown()  # no barrier: the other processes may never reach it
        raise
    if sync.distributed:
        shutdown(wait_for_peers=True)
    return result


def _train(cfg: Config, sync: StepSync, saved: dict | None, partial: Path | None, *, data_dir, name, runs_dir,
           reporter, progress) -> RunResult:
    if cfg.training.num_threads:
        torch.set_num_threads(cfg.training.num_threads)
    elif sync.distributed:  # share this machine's cores between its processes
        local = int(os.environ.get("LOCAL_WORLD_SIZE", sync.world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    cfg.training.device = local_device(cfg.training.device)
    if not sync.is_main:
        reporter, progress = Reporter(), False
    reporter = reporter or (RichReporter() if progress else Reporter())
    # Everything that can fail on bad input happens before the run directory exists.
    check_backends(cfg.output)
    method = make_method(cfg.method.name, cfg.method.params)
    try:
        method.check_step_setup(world=sync.world, accumulation=cfg.training.accumulation_steps,
                                precision=cfg.training.precision)
    except ValueError as exc:
        raise ConfigError(f"method: {exc}") from None
    tasks = load_tasks(cfg, data_dir)
    text_encoder = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    encoded = encode_tasks(tasks, text_encoder)
    specs = [t.spec for t in tasks]
    checkpointing = cfg.training.checkpoint_every != 0
    fingerprint = data_fingerprint(encoded) if checkpointing or saved is not None else ""
    if saved is not None and saved["fingerprint"] != fingerprint:
        raise TrainingError(f"--resume: the data or vocabulary of {partial} differ from those the run started with")
    seed_everything(cfg.seed)
    model = build_model(cfg.model, specs, text_encoder, seed=cfg.seed)
    check_unlabelled(cfg, model, tasks)
    model.to(cfg.training.device)
    sync.broadcast_parameters(model)

    # only rank 0 writes (the run directory and its checkpoints)
    if saved is not None:
        writer = RunWriter.reopen(partial, saved["history_lines"], cfg) if sync.is_main else _NoWriter(partial)
    else:
        run_path = unique_run_path(Path(runs_dir or cfg.output.runs_dir), name or cfg.name)
        sync.all_reduce_(torch.zeros(1))  # every process has its path before rank 0 creates the directory
        writer = RunWriter(run_path, cfg) if sync.is_main else _NoWriter(run_path.with_name(run_path.name + ".partial"))
    ckpt = RunCheckpoint(writer, model, fingerprint) if checkpointing and sync.is_main else None
    try:
        start = time.perf_counter() - (saved["run_elapsed"] if saved is not None else 0.0)
        fits = [FitResult(**done) for done in saved["jobs_done"]] if saved is not None else []
        if ckpt is not None:
            ckpt.start, ckpt.jobs_done = start, [_fit_summary(f) for f in fits]

        def run_job(job: int, trainer: Trainer) -> FitResult:
            state = None
            if saved is not None and saved["job"] == job:
                model.load_state_dict(saved["model"])
                state = restore_trainer(trainer, saved["trainer"])
                set_rng_state(saved["rng"])
            if ckpt is not None:
                ckpt.job = job
            fit = trainer.fit(state)
            if ckpt is not None:
                ckpt.jobs_done.append(_fit_summary(fit))
            return fit

        jobs = model.training_jobs()  # one over every task; `separate` (STL): one per task
        for i, job in enumerate(jobs):
            if i < len(fits):  # finished before the interruption; its weights are in the checkpoint
                continue
            if job.seed_offset is not None:
                seed_everything(cfg.seed + job.seed_offset)
            job_method = method if len(jobs) == 1 else make_method(cfg.method.name, cfg.method.params)
            label = cfg.method.name if job.label is None else f"{cfg.method.name}:{job.label}"
            fits.append(run_job(i, Trainer(
                job.model, job_method, {t: encoded[t] for t in job.tasks}, cfg.training, seed=cfg.seed,
                pad_id=text_encoder.pad_id, reporter=reporter, on_record=writer.record, label=label,
                checkpoint=ckpt, sync=sync)))
        steps = sum(f.steps for f in fits)
        best_step = fits[0].best_step if len(jobs) == 1 else {
            t: f.best_step for job, f in zip(jobs, fits) for t in job.tasks}
        wall = time.perf_counter() - start
        metrics = final_metrics(model, encoded, cfg, text_encoder.pad_id)
        skipped_steps: dict[str, int] = {}
        for f in fits:
            for t, n in f.skipped_steps.items():
                skipped_steps[t] = skipped_steps.get(t, 0) + n
        metrics.update({"method": cfg.method.name, "seed": cfg.seed, "steps": steps, "best_step": best_step,
                        "wall_seconds": round(wall, 3),
                        "skipped_lines": {t.name: t.skipped_lines for t in tasks if t.skipped_lines},
                        "skipped_steps": skipped_steps})
        if sync.distributed:
            metrics["processes"] = sync.world
        metrics["architecture"]["wall_seconds_per_step"] = round(wall / max(1, steps), 6)  # incl. evaluations
        writer.write_metrics(metrics)
        writer.save_model(model, text_encoder, cfg.method.name)
        path = writer.commit()
        shutil.rmtree(path / "checkpoint", ignore_errors=True)  # only needed to resume
    except TextmtlError:
        writer.abort()
        raise
    except BaseException as exc:
        if has_checkpoint(writer.path / "checkpoint"):
            writer.keep()
            exc.add_note(f"continue with: textmtl train --resume {writer.path}")
        else:
            writer.abort()
        raise
    return RunResult(path, metrics)


class _NoWriter:
    """What processes other than rank 0 write: nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path  # the `.partial` directory rank 0 writes

    def record(self, record: dict) -> None:
        del record

    def write_metrics(self, metrics: dict) -> None:
        del metrics

    def save_model(self, *args: Any) -> None:
        del args

    def commit(self) -> Path:
        return self.path.with_name(self.path.name.removesuffix(".partial"))

    def abort(self) -> None:
        pass

    def keep(self) -> None:
        pass


def check_inputs(config: Config | dict | str | Path, *, overrides: list[str] | None = None,
                 data_dir: str | Path | None = None, world: int = 1) -> Config:
    """Everything `train` checks before it writes anything (config, method, data), without training."""
    cfg = as_config(config, overrides)
    check_backends(cfg.output)
    method = make_method(cfg.method.name, cfg.method.params)
    try:
        method.check_step_setup(world=world, accumulation=cfg.training.accumulation_steps,
                                precision=cfg.training.precision)
    except ValueError as exc:
        raise ConfigError(f"method: {exc}") from None
    load_tasks(cfg, data_dir)
    return cfg


def _fit_summary(fit: FitResult) -> dict[str, Any]:
    return {"best_step": fit.best_step, "best_dev_average": fit.best_dev_average, "steps": fit.steps,
            "wall_seconds": fit.wall_seconds, "skipped_steps": dict(fit.skipped_steps)}


def find_resumable(path: str | Path) -> Path:
    """The `.partial` directory of an interrupted run holding a checkpoint; one-line errors otherwise."""
    p = Path(path)
    partial = p if p.name.endswith(".partial") else p.with_name(p.name + ".partial")
    if has_checkpoint(partial / "checkpoint"):
        return partial
    final = partial.with_name(partial.name.removesuffix(".partial"))
    if (final / "metrics.json").exists():
        raise TrainingError(f"--resume: {final} is a finished run; nothing to resume")
    if not partial.is_dir():
        raise TrainingError(f"--resume: no interrupted run at {partial}")
    raise TrainingError(f"--resume: {partial} has no checkpoint (stopped before its first one, "
                        "or training.checkpoint_every was 0)")


def resume_config(partial: Path, config: Config | dict | str | Path | None, overrides: list[str] | None) -> Config:
    """The run's saved config; a given config (or overrides) must agree with it, except in
    `training.num_threads`, which a resumed run may change (the given value is used and written
    to the run's config.yaml; results then match an uninterrupted run up to float rounding)."""
    import yaml

    source = partial / "config.yaml"
    saved = validate_config(yaml.safe_load(source.read_text(encoding="utf-8")), str(source))
    if config is None and not overrides:
        return saved
    given = as_config(config if config is not None else saved.model_dump(mode="json"), overrides)
    saved_dump, given_dump = saved.model_dump(mode="json"), given.model_dump(mode="json")
    saved_dump["training"]["num_threads"] = given_dump["training"]["num_threads"]
    diff = _first_difference(saved_dump, given_dump)
    if diff is not None:
        key, a, b = diff
        raise ConfigError(f"--resume: '{key}' differs from the run's config.yaml (run: {a!r}, given: {b!r}); "
                          "a resumed run keeps its own config")
    if given.training.num_threads != saved.training.num_threads:
        saved.training.num_threads = given.training.num_threads
        tmp = source.with_name(source.name + ".tmp")
        tmp.write_text(saved.to_yaml(), encoding="utf-8")
        os.replace(tmp, source)
    return saved


def _first_difference(a: Any, b: Any, key: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            found = _first_difference(a.get(k), b.get(k), f"{key}.{k}" if key else str(k))
            if found is not None:
                return found
        return None
    return None if a == b else (key or "(config)", a, b)


def final_metrics(model, encoded: dict[str, EncodedTask], cfg: Config, pad_id: int) -> dict[str, Any]:
    """Dev and test metrics of every task, and their task averages (main metric)."""
    dev_evaluator = Evaluator(encoded, "dev", cfg.training.eval_batch_size, pad_id, cfg.training.device)
    test_evaluator = Evaluator(encoded, "test", cfg.training.eval_batch_size, pad_id, cfg.training.device)
    dev, test = dev_evaluator(model), test_evaluator(model)
    return {
        "tasks": {t: {"dev": dev.get(t, {}), "test": test.get(t, {})} for t in encoded},
        "average": {"dev": task_average(dev, model.specs), "test": task_average(test, model.specs)},
        "main_metrics": {t: model.specs[t].main_metric for t in encoded},  # the metric each average uses
        # the architecture, its parameters and what it reports on the test data (e.g. task communication)
        "architecture": {**model.description(), "parameters": model.parameter_counts(),
                         "test": model.evaluation_record(test_evaluator.batches)},
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

"""The life of a training run: prepare (config, method, data, model; everything that can fail on bad
input, before anything is written) -> run (one `Trainer` per training job) -> write (metrics, model,
the atomic rename of the run directory). `textmtl.api.train` is this module's `train`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError

from ..advice.overlap import DataOverlapWarning, overlap_warnings
from ..config import ConfigBase as Config
from ..config import as_config
from ..config.schema import check_run_name
from ..data.loading import encode_tasks, load_tasks, provided_datasets, with_datasets
from ..data.tasks import TaskData
from ..errors import ConfigError, TextmtlError, TrainingError
from ..gradients.parts import StepSync
from ..methods import make_method
from ..models.architectures import Architecture
from ..models.build import build_model, build_text_encoder
from ..models.heads import copy_head
from ..registry import architectures
from .checkpoint import (
    RankCheckpoint,
    RunCheckpoint,
    data_fingerprint,
    has_checkpoint,
    read_checkpoint,
    restore_model,
    restore_rng,
    restore_trainer,
)
from .devices import check_device_available, resolve_device
from .distributed import init_from_env, joined_a_restarted_group, local_device, shutdown
from .evaluation import EncodedTask, Evaluator, task_average
from .progress import PlainReporter, Reporter, RichReporter
from .resume import find_resumable, resume_config
from .run_directory import (
    METRICS_FILE,
    RunWriter,
    check_runs_dir,
    is_finished,
    publish,
    reserve_run_path,
    unique_run_path,
)
from .tracking import check_backends
from .trainer import FitResult, Trainer
from .transfer import load_source, transfer_encoder


@dataclass
class RunResult:
    path: Path
    metrics: dict[str, Any]


def start_derived_heads(cfg: Config, model: Architecture) -> None:
    """Derived tasks with `copy_head` start with their source task's head weights (on a model that
    shares parameters between tasks; single-task models have no shared part to conflict over)."""
    if not model.shared_parameters():
        return
    for i, entry in enumerate(cfg.data.derived_tasks):
        if entry.copy_head:
            try:
                copy_head(model, entry.copy_of, entry.name)
            except ValueError as exc:
                raise ConfigError(f"data.derived_tasks.{i}.copy_head: {exc} (set copy_head: false)") from None


def check_unlabelled(cfg: Config, model: Architecture, tasks: list[TaskData]) -> None:
    """`data.unlabelled` needs an architecture that reads unlabelled text and such text for every task."""
    if not cfg.data.unlabelled:
        return
    if not model.uses_unlabelled:
        readers = [e.name for e in architectures.entries() if getattr(e.obj, "uses_unlabelled", False)]
        raise ConfigError(
            f"data.unlabelled: architecture '{model.name}' does not use unlabelled text "
            f"(architectures that do: {', '.join(readers) or 'none'})"
        )
    missing = [t.name for t in tasks if not t.unlabelled]
    if missing:
        raise ConfigError(f"data.unlabelled: no unlabelled text for task(s) {', '.join(missing)}")


def restarted_run(cfg: Config, name: str | None, runs_dir: str | Path | None) -> Path | None:
    """In a process group that torchrun formed again after a failure (on any machine): the
    `.partial` directory of this run holding a checkpoint to resume from (or a finished run to
    publish); else None (a first attempt, or nothing to resume)."""
    if not joined_a_restarted_group():
        return None
    partial = Path(runs_dir or cfg.output.runs_dir) / f"{name or cfg.name}.partial"
    return partial if has_checkpoint(partial / "checkpoint") or is_finished(partial) else None


def _published(partial: Path, config, overrides) -> RunResult:
    """Publish a run that had finished when it was killed (see `run_directory.publish`)."""
    resume_config(partial, config, overrides)  # a config given with --resume must still agree
    try:
        metrics = json.loads((partial / METRICS_FILE).read_text(encoding="utf-8"))
        path = publish(partial)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{partial}: cannot publish the finished run ({exc})") from None
    return RunResult(path, metrics)


def check_same_start(sync: StepSync, saved: dict | None, partial: Path | None) -> None:
    """Every process resumes from the same checkpoint, or none resumes. Each reads the checkpoint
    itself, so on several machines the runs directory must be one shared folder; a machine that
    cannot see it would start afresh while the others resume, and the group would deadlock."""
    if not sync.distributed:
        return
    mine = None if saved is None else [saved["job"], saved["history_lines"], saved["run_elapsed"]]
    starts = sync.all_gather_object(mine)
    odd = [rank for rank, start in enumerate(starts) if start != starts[0]]
    if odd:
        where = f"the checkpoint in {partial}" if partial is not None else "a checkpoint"
        raise TrainingError(
            f"process {odd[0]} and process 0 do not resume from the same checkpoint ({where}): on several "
            "machines, output.runs_dir must be a folder every machine shares"
        )


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
    datasets: Mapping[str, Any] | None = None,
) -> RunResult:
    """Train as the config says and write a run directory. Bad input raises a TextmtlError
    before anything is written.

    `datasets`: in-memory `datasets.Dataset` / `DatasetDict` objects by task name; each is a
    custom task (its options, if any, from the config's `custom_tasks` entry of that name). A config
    that names no benchmark then trains on them alone.

    `resume`: an interrupted run's `<name>.partial` directory (or `<name>`); training continues
    from its last checkpoint with the run's own config.yaml (a `config` or `overrides`, if given,
    must agree with it) and ends exactly as an uninterrupted run would. On a TextmtlError the
    `.partial` directory is removed; on any other interruption it is kept if it holds a checkpoint.

    Restarted by torchrun (`--max-restarts`, after a process failed on any machine), a run resumes
    by itself from the last checkpoint of its `.partial` directory, when there is one.
    """
    saved, partial = None, None
    if name is not None:
        try:
            check_run_name(name)
        except ValueError as exc:
            raise ConfigError(f"--name: {exc}") from None
    if resume is not None:
        if name is not None or runs_dir is not None:
            raise ConfigError("--resume continues a run in its own directory; --name and --runs-dir do not apply")
        partial = find_resumable(resume)
        if is_finished(partial):  # killed while publishing a finished run: publish it (rank 0 alone)
            return (
                _published(partial, config, overrides) if os.environ.get("RANK", "0") == "0" else RunResult(partial, {})
            )
        cfg = resume_config(partial, config, overrides)
        saved = read_checkpoint(partial / "checkpoint")
    elif config is None:
        raise ConfigError("train: give a config (or --resume RUN_DIR)")
    else:
        cfg = as_config(config, overrides)
    cfg = with_datasets(cfg, datasets)
    cfg.training.device = resolve_device(cfg.training.device)  # auto -> cuda, mps or cpu
    sync = init_from_env(cfg.training.device)  # torchrun: every process runs this function
    try:
        if saved is None and (partial := restarted_run(cfg, name, runs_dir)) is not None and is_finished(partial):
            result = _published(partial, config, overrides) if sync.is_main else RunResult(partial, {})
            shutdown(wait_for_peers=True)
            return result
        if saved is None and partial is not None:
            # torchrun restarted the group: continue from the last checkpoint, as --resume would
            cfg = with_datasets(resume_config(partial, config, overrides), datasets)
            cfg.training.device = resolve_device(cfg.training.device)
            saved, name, runs_dir = read_checkpoint(partial / "checkpoint"), None, None
        with provided_datasets(datasets):
            result = _train(
                cfg,
                sync,
                saved,
                partial,
                data_dir=data_dir,
                name=name,
                runs_dir=runs_dir,
                reporter=reporter,
                progress=progress,
            )
    except BaseException:
        if sync.distributed:
            shutdown()  # no barrier: the other processes may never reach it
        raise
    if sync.distributed:
        shutdown(wait_for_peers=True)
    return result


def _train(
    cfg: Config,
    sync: StepSync,
    saved: dict | None,
    partial: Path | None,
    *,
    data_dir,
    name,
    runs_dir,
    reporter,
    progress,
) -> RunResult:
    if cfg.training.num_threads:
        torch.set_num_threads(cfg.training.num_threads)
    elif sync.distributed:  # share this machine's cores between its processes
        local = int(os.environ.get("LOCAL_WORLD_SIZE", sync.world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    cfg.training.device = local_device(cfg.training.device)
    check_device_available(cfg.training.device)
    check_same_start(sync, saved, partial)
    if not sync.is_main:
        reporter, progress = Reporter(), False
    if reporter is None and progress:
        reporter = RichReporter() if sys.stderr.isatty() else PlainReporter(every=cfg.output.log_every)
    reporter = reporter or Reporter()
    if cfg.encoder_defaults:
        applied = ", ".join(f"{k}={v}" for k, v in cfg.encoder_defaults.items())
        reporter.message(f"training defaults of the {cfg.model.encoder.type} encoder: {applied}")
    # Everything that can fail on bad input happens before the run directory exists.
    if saved is None:
        check_runs_dir(Path(runs_dir or cfg.output.runs_dir))
    check_backends(cfg.output)
    method = make_method(cfg.method.name, cfg.method.params)
    try:
        method.check_step_setup(
            world=sync.world, accumulation=cfg.training.accumulation_steps, precision=cfg.training.precision
        )
    except ValueError as exc:
        raise ConfigError(f"method: {exc}") from None
    tasks = load_tasks(cfg, data_dir)
    for task in tasks:
        if task.origin:  # custom tasks: say how big each split is and where carved parts came from
            sizes = task.sizes()
            carved = {
                s: f" ({task.origin[s]})"
                for s in ("dev", "test")
                if task.origin.get(s, "").startswith(("carved", "held"))
            }
            parts = [f"{s} {sizes[s]}{carved.get(s, '')}" for s in ("train", "dev", "test")]
            reporter.message(f"{task.name}: {', '.join(parts)}")
    if saved is None and sync.is_main:
        for line in overlap_warnings(tasks):  # test texts seen in training (textmtl advise lists them all)
            if type(reporter) is Reporter:  # no progress output: a Python warning, which callers can filter
                warnings.warn(line, DataOverlapWarning, stacklevel=3)
            else:
                reporter.message(f"warning: {line}")
    source = load_source(cfg)  # init.from_run: the encoder and vocabulary come from another run
    text_encoder = (
        source.text_encoder
        if source is not None
        else build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    )
    encoded = encode_tasks(tasks, text_encoder)
    specs = [t.spec for t in tasks]
    checkpointing = cfg.training.checkpoint_every != 0
    fingerprint = data_fingerprint(encoded) if checkpointing or saved is not None else ""
    if saved is not None and saved["fingerprint"] != fingerprint:
        raise TrainingError(f"--resume: the data or vocabulary of {partial} differ from those the run started with")
    seed_everything(cfg.seed)
    model = build_model(cfg.model, specs, text_encoder, seed=cfg.seed)
    start_derived_heads(cfg, model)
    if source is not None:  # a resumed run has the weights in its checkpoint: only the freeze then
        transfer_encoder(source, model, freeze=source.freeze, copy=saved is None)
    check_unlabelled(cfg, model, tasks)
    try:
        method.check_model(model)
    except ValueError as exc:
        raise ConfigError(f"method: {exc}") from None
    model.to(cfg.training.device)
    sync.broadcast_parameters(model)

    # only rank 0 writes (the run directory and its checkpoints)
    writer: RunWriter | _NoWriter
    if saved is not None:
        assert partial is not None  # a resumed run has its .partial directory
        writer = RunWriter.reopen(partial, saved["history_lines"], cfg) if sync.is_main else _NoWriter(partial)
    else:
        runs_root = Path(runs_dir or cfg.output.runs_dir)
        run_path = unique_run_path(runs_root, name or cfg.name)
        sync.all_reduce_(torch.zeros(1))  # every process has its path before rank 0 creates the directory
        if sync.is_main:
            run_path, lock = reserve_run_path(runs_root, name or cfg.name)
            writer = RunWriter(run_path, cfg, lock)
        else:
            writer = _NoWriter(run_path.with_name(run_path.name + ".partial"))
    ckpt: RunCheckpoint | RankCheckpoint | None = None
    if checkpointing and isinstance(writer, RunWriter):
        ckpt = RunCheckpoint(writer, model, fingerprint, sync)
    elif checkpointing and sync.distributed:
        ckpt = RankCheckpoint(sync)  # hands its random state to rank 0's checkpoint
    try:
        start = time.perf_counter() - (saved["run_elapsed"] if saved is not None else 0.0)
        fits = [FitResult(**done) for done in saved["jobs_done"]] if saved is not None else []
        if ckpt is not None:
            ckpt.start, ckpt.jobs_done = start, [_fit_summary(f) for f in fits]

        def run_job(job: int, trainer: Trainer) -> FitResult:
            state = None
            if saved is not None and saved["job"] == job:
                assert partial is not None  # a resumed run has its .partial directory
                restore_model(model, saved, partial / "checkpoint")
                state = restore_trainer(trainer, saved["trainer"])
                restore_rng(saved, sync)  # every process its own stream
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
            fits.append(
                run_job(
                    i,
                    Trainer(
                        job.model,
                        job_method,
                        {t: encoded[t] for t in job.tasks},
                        cfg.training,
                        seed=cfg.seed,
                        pad_id=text_encoder.pad_id,
                        reporter=reporter,
                        on_record=writer.record,
                        label=label,
                        checkpoint=ckpt,
                        sync=sync,
                        on_step=writer.log_step,
                        log_every=cfg.output.log_every if cfg.output.logging else 0,
                    ),
                )
            )
        steps = sum(f.steps for f in fits)
        best_step = (
            fits[0].best_step if len(jobs) == 1 else {t: f.best_step for job, f in zip(jobs, fits) for t in job.tasks}
        )
        wall = time.perf_counter() - start
        metrics = final_metrics(model, encoded, cfg, text_encoder.pad_id, sync)
        skipped_steps: dict[str, int] = {}
        for f in fits:
            for t, n in f.skipped_steps.items():
                skipped_steps[t] = skipped_steps.get(t, 0) + n
        metrics.update(
            {
                "method": cfg.method.name,
                "seed": cfg.seed,
                "steps": steps,
                "best_step": best_step,
                "wall_seconds": round(wall, 3),
                "skipped_lines": {t.name: t.skipped_lines for t in tasks if t.skipped_lines},
                "data": {t.name: t.sizes() for t in tasks},  # examples per split, and where they came from
                "skipped_steps": skipped_steps,
            }
        )
        if source is not None:
            metrics["init"] = source.record()
        if sync.distributed:
            metrics["processes"] = sync.world
        metrics["architecture"]["wall_seconds_per_step"] = round(wall / max(1, steps), 6)  # incl. evaluations
        writer.save_model(model, text_encoder, cfg.method.name)
        writer.write_metrics(metrics)  # last: a finished run (see run_directory.is_finished)
        path = writer.commit()  # the checkpoint (only needed to resume) is removed before the rename
    except TextmtlError:
        writer.abort()
        raise
    except (OSError, SafetensorError) as exc:  # disk full, a read-only mount, a quota: one line
        raise _write_failure(writer, exc) from None
    except BaseException as exc:
        if has_checkpoint(writer.path / "checkpoint"):
            writer.keep()
            exc.add_note(f"continue with: textmtl train --resume {writer.path}")
        else:
            writer.abort()
        raise
    return RunResult(path, metrics)


def _write_failure(writer: RunWriter | _NoWriter, exc: BaseException) -> TrainingError:
    """The one-line error for a run that could not be written; the `.partial` directory is kept when
    it holds a checkpoint (continue once there is room), else removed."""
    reason = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    where = getattr(exc, "filename", None) or writer.path
    resumable = has_checkpoint(writer.path / "checkpoint")
    with contextlib.suppress(OSError, SafetensorError):  # closing may itself need the disk
        if resumable:
            writer.keep()
        else:
            writer.abort()
    if resumable:
        return TrainingError(
            f"{where}: cannot write the run ({reason}); once that is fixed, continue with: "
            f"textmtl train --resume {writer.path}"
        )
    return TrainingError(f"{where}: cannot write the run ({reason}); nothing was kept")


class _NoWriter:
    """What processes other than rank 0 write: nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path  # the `.partial` directory rank 0 writes

    def record(self, record: dict) -> None:
        del record

    def log_step(self, record: dict) -> None:
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


def check_inputs(
    config: Config | dict | str | Path,
    *,
    overrides: list[str] | None = None,
    data_dir: str | Path | None = None,
    world: int = 1,
) -> Config:
    """Everything `train` checks before it writes anything (config, method, data), without training."""
    cfg = as_config(config, overrides)
    check_backends(cfg.output)
    method = make_method(cfg.method.name, cfg.method.params)
    try:
        method.check_step_setup(
            world=world, accumulation=cfg.training.accumulation_steps, precision=cfg.training.precision
        )
    except ValueError as exc:
        raise ConfigError(f"method: {exc}") from None
    load_tasks(cfg, data_dir)
    return cfg


def _fit_summary(fit: FitResult) -> dict[str, Any]:
    return {
        "best_step": fit.best_step,
        "best_dev_average": fit.best_dev_average,
        "steps": fit.steps,
        "wall_seconds": fit.wall_seconds,
        "skipped_steps": dict(fit.skipped_steps),
    }


def final_metrics(
    model, encoded: dict[str, EncodedTask], cfg: Config, pad_id: int, sync: StepSync | None = None
) -> dict[str, Any]:
    """Dev and test metrics of every task, and their task averages (main metric); sharded over the
    processes of `sync` (each scores its share; the same numbers as one process)."""
    device = cfg.training.device
    dev_evaluator = Evaluator(encoded, "dev", cfg.training.eval_batch_size, pad_id, device, sync)
    test_evaluator = Evaluator(encoded, "test", cfg.training.eval_batch_size, pad_id, device, sync)
    dev, test = dev_evaluator(model), test_evaluator(model)
    return {
        "tasks": {t: {"dev": dev.get(t, {}), "test": test.get(t, {})} for t in encoded},
        # no dev split (dev_size: 0 on every task): null, not NaN
        "average": {"dev": task_average(dev, model.specs) if dev else None, "test": task_average(test, model.specs)},
        "main_metrics": {t: model.specs[t].main_metric for t in encoded},  # the metric each average uses
        # the architecture, its parameters and what it reports on the test data (e.g. task communication)
        "architecture": {
            **model.description(),
            "parameters": model.parameter_counts(),
            "test": model.evaluation_record(test_evaluator.batches),
        },
    }

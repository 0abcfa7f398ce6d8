"""One selection's trainings: importance per task (through the cache) and main + auxiliaries runs, re-used
across selections that ask for the same task set, seed and settings."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any, cast

from ..config import validate_config
from ..data.sets import get_benchmark
from ..files import atomic_write_json, file_lock
from .cache import ImportanceCache
from .head_importance import head_importance, instance_head_matrices
from .options import RunRecord, SelectOptions, _metric, encoder_id, keyed_config, short_hash

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
        return {
            "benchmark": self.benchmark,
            "encoder": encoder_id(cfg),
            "seed": self.opts.seed,
            "slicing": self.opts.slicing,
            "batch_size": self.opts.importance_batch_size,
            "config": keyed_config(cfg),
        }

    def compute_importance(self, task: str) -> tuple[Any, dict[str, Any]]:
        from ..data.batching import EncodedSplit
        from ..data.loading import load_tasks
        from ..training.lifecycle import train
        from ..training.run_directory import load_run

        cfg = self.finetune_config(task)
        self.log(
            f"[gradts] {task}: fine-tuning alone ({cfg['training']['epochs']} epochs, "
            f"at most {cfg['data']['max_train_examples']} examples)"
        )
        start = time.perf_counter()
        result = train(
            cfg,
            data_dir=self.opts.data_dir,
            name=f"{task}-s{self.opts.seed}",
            runs_dir=Path(self.opts.work_dir) / "finetune",
            progress=False,
        )
        finetuned = time.perf_counter()
        try:
            run = load_run(result.path)
            data = load_tasks(run.config, self.opts.data_dir)[0]
            split = EncodedSplit(data.spec.kind, run.text_encoder.encode_many(data.train), data.train)
            self.log(f"[gradts] {task}: head importance over {len(split)} training examples")
            raw = instance_head_matrices(
                run.model,
                task,
                split,
                run.text_encoder.pad_id,
                slicing=cast(Any, self.opts.slicing),
                batch_size=self.opts.importance_batch_size,
            )
        finally:
            shutil.rmtree(result.path, ignore_errors=True)  # only the matrices are kept
        done = time.perf_counter()
        meta = {
            "seconds": {"finetune": round(finetuned - start, 3), "importance": round(done - finetuned, 3)},
            "examples": int(raw.shape[0]),
            "shape": list(raw.shape[1:]),
            "finetune_dev": result.metrics["tasks"][task]["dev"],
            "finetune_steps": result.metrics["steps"],
        }
        return head_importance(raw), meta

    def importance(self, tasks: list[str]) -> dict[str, tuple[Any, dict[str, Any], bool]]:
        """Every task's matrices; an entry another process is computing is taken up last (then waited for)."""
        found: dict[str, tuple[Any, dict[str, Any], bool]] = {}
        pending = list(tasks)
        while pending:
            deferred = []
            for task in pending:
                settings = self.importance_settings(task)
                got = self.cache.get_or_compute(task, settings, partial(self.compute_importance, task), blocking=False)
                if got is None:
                    deferred.append(task)
                else:
                    found[task] = got
            if deferred and len(deferred) == len(pending):  # everything left is being computed elsewhere: wait
                task = deferred.pop(0)
                self.log(f"[gradts] {task}: waiting for another process computing its importance")
                waited = self.cache.get_or_compute(
                    task, self.importance_settings(task), partial(self.compute_importance, task)
                )
                assert waited is not None  # blocking: computed here or by the other process
                found[task] = waited
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
                self.log(
                    f"[gradts] training {self.opts.main} + {{{', '.join(aux)}}}{' (fg)' if fg else ''}"
                    f" ({len(aux) + 1} tasks)"
                )
                start = time.perf_counter()
                train(cfg, data_dir=self.opts.data_dir, name=name, runs_dir=self.runs_dir, progress=False)
                atomic_write_json(path / "gradts.json", {"seconds": time.perf_counter() - start})
                if self.opts.drop_weights:
                    (path / "model.safetensors").unlink(missing_ok=True)
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        timing = path / "gradts.json"
        seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else float(metrics["wall_seconds"])
        dev = _metric(metrics, self.opts.main, "dev", self.main_metric)
        record = RunRecord(
            aux,
            path,
            math.nan if dev is None else dev,
            _metric(metrics, self.opts.main, "test", self.main_metric),
            float(seconds),
            reused,
        )
        self.log(
            f"[gradts]   {self.opts.main} dev {self.main_metric} {record.dev:.4f}"
            f"{' (finished run re-used)' if reused else f' ({seconds:.0f}s)'}"
        )
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
        folder = (
            Path(self.opts.work_dir)
            / "fg-data"
            / f"{self.opts.main}-s{self.opts.seed}-{short_hash([keyed_config(cfg), key])}"
        )
        if not folder.is_dir():
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            for name, keep in key.items():
                task, target = tasks[name], partial / name
                target.mkdir(parents=True)
                for split, examples in (
                    ("train", [task.train[i] for i in keep]),
                    ("dev", task.dev),
                    ("test", task.test),
                ):
                    (target / f"{split}.jsonl").write_text(
                        "".join(json.dumps(_jsonl_row(task.spec, ex), ensure_ascii=False) + "\n" for ex in examples),
                        encoding="utf-8",
                    )
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
            customs.append(
                {
                    "name": name,
                    "kind": spec.kind.value,
                    "format": "jsonl",
                    "files": {s: str((folder / name / f"{s}.jsonl").resolve()) for s in ("train", "dev", "test")},
                    "columns": columns,
                    "labels": list(spec.labels) or None,
                    "metrics": list(spec.metrics),
                }
            )
        return {"custom_tasks": customs, "key": key}


def _jsonl_row(spec, ex) -> dict[str, Any]:
    label = float(ex.label) if spec.kind.value == "regression" else spec.labels[int(ex.label)]
    row = {"text": ex.text, "label": label}
    if ex.text_pair is not None:
        row["text_pair"] = ex.text_pair
    return row

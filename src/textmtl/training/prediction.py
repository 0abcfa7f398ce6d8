"""Using a finished run: re-scoring it on its tasks' data, and predicting labels for new texts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..data.batching import EncodedSplit, eval_batches
from ..data.loading import encode_tasks, load_tasks, provided_datasets
from ..data.tasks import Example, TaskKind, TaskSpec
from ..errors import ConfigError
from .evaluation import Evaluator, predict_batches, task_average
from .run_directory import LoadedRun, load_run


def evaluate(
    run_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    splits: tuple[str, ...] = ("dev", "test"),
    datasets: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Re-score a finished run on its tasks' data; returns the `tasks` and `average` parts of metrics.json.
    `datasets`: the in-memory datasets of a run trained on them (`train(..., datasets=)`)."""
    run = load_run(run_dir)
    with provided_datasets(datasets):
        tasks = [t for t in load_tasks(run.config, data_dir) if t.name in run.specs]
    encoded = encode_tasks(tasks, run.text_encoder)
    bs = run.config.training.eval_batch_size
    scores = {s: Evaluator(encoded, s, bs, run.text_encoder.pad_id)(run.model) for s in splits}
    return {
        "tasks": {t: {s: scores[s].get(t, {}) for s in splits} for t in encoded},
        "average": {s: task_average(scores[s], run.specs) for s in splits},
    }


def predict(
    run_dir: str | Path | LoadedRun,
    task: str,
    texts: Iterable[str | tuple[str, str] | Example],
    *,
    batch_size: int = 256,
) -> list[str | float]:
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


def iter_predictions(
    run_dir: str | Path | LoadedRun,
    task: str,
    texts: Iterable[str | tuple[str, str] | Example],
    *,
    batch_size: int = 256,
) -> Iterator[str | float]:
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

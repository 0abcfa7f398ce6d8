"""Using a finished run: re-scoring it on its tasks' data, and predicting labels for new texts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..data.batching import EncodedSplit, eval_batches
from ..data.loading import encode_tasks, load_tasks, provided_datasets
from ..data.tasks import Example, TaskKind, TaskSpec
from ..errors import ConfigError
from .evaluation import Evaluator, predict_split, task_average
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
        # None: a split the run does not have (dev_size: 0)
        "average": {s: task_average(scores[s], run.specs) if scores[s] else None for s in splits},
    }


def predict(
    run_dir: str | Path | LoadedRun,
    task: str,
    texts: Iterable[str | tuple[str, str] | Example],
    *,
    batch_size: int = 256,
    scores: bool = False,
) -> list[Any]:
    """Predicted labels (or regression values) for `texts`, in order; None for an empty text.
    `scores`: a dict per text instead, `{"label", "scores": {label: probability}}` (see `iter_predictions`)."""
    return list(iter_predictions(run_dir, task, texts, batch_size=batch_size, scores=scores))


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
    scores: bool = False,
) -> Iterator[Any]:
    """Streaming form of `predict`: pulls `texts` lazily and holds one chunk of
    `batch_size * PREDICT_CHUNK_BATCHES` inputs in memory at a time.

    An empty (or blank) text gets None, never a label. `scores`: each item is a dict,
    `{"label": ..., "scores": {label: probability}}` for classification, `{"value": ...}` for
    regression, `{"label": None, "empty": True}` for an empty text."""
    run = run_dir if isinstance(run_dir, LoadedRun) else load_run(run_dir)
    spec = prediction_spec(run, task)
    regression = spec.kind == TaskKind.REGRESSION

    def flush(chunk: list[Example | None]) -> Iterator[Any]:
        real = [ex for ex in chunk if ex is not None]
        split = EncodedSplit(spec.kind, run.text_encoder.encode_many(real), real)
        # batches sorted by length (less padding); predict_split restores the input order
        out = predict_split(run.model, task, eval_batches(split, batch_size, run.text_encoder.pad_id), scores=scores)
        i = 0
        for ex in chunk:
            if ex is None:
                yield {"label": None, "empty": True} if scores else None
                continue
            p = out.pred[i]
            value: Any = float(p) if regression else spec.labels[int(p)]
            if not scores:
                yield value
            elif regression:
                yield {"value": value}
            else:
                assert out.scores is not None
                yield {"label": value, "scores": {label: float(q) for label, q in zip(spec.labels, out.scores[i])}}
            i += 1

    chunk: list[Example | None] = []
    for item in texts:
        chunk.append(_as_example(item))
        if len(chunk) == batch_size * PREDICT_CHUNK_BATCHES:
            yield from flush(chunk)
            chunk = []
    if chunk:
        yield from flush(chunk)


def _as_example(item: str | tuple[str, str] | Example) -> Example | None:
    """The input as an Example, or None when it has no text (blank, or a pair of blanks)."""
    if isinstance(item, Example):
        return item if item.text.strip() or (item.text_pair or "").strip() else None
    if isinstance(item, tuple):
        return Example(item[0], None, item[1]) if item[0].strip() or item[1].strip() else None
    return Example(item) if item.strip() else None

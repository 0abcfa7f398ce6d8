"""Reading the tasks a config names: benchmark tasks, custom tasks, the caps; and tokenising them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .custom import load_custom_task
from .derived import derive_tasks
from .sets import get_benchmark, resolve_data_dir, sample_in_order
from .tasks import Example, TaskData

if TYPE_CHECKING:
    from ..config import ConfigBase as Config
    from .batching import EncodedTask
    from .text_encoders import TextEncoder


def _cap(examples: list[Example], n: int | None, subsample: str) -> list[Example]:
    """At most `n` examples: the first ones, or a fixed-seed random sample in file order."""
    if n is None:
        return examples
    return examples[:n] if subsample == "first" else sample_in_order(examples, n)


#: in-memory `datasets` objects of the run being prepared, by task name (`provided_datasets`)
_DATASETS: ContextVar[Mapping[str, Any] | None] = ContextVar("textmtl_datasets", default=None)


@contextlib.contextmanager
def provided_datasets(datasets: Mapping[str, Any] | None) -> Iterator[None]:
    """Within the block, custom tasks with `format: dataset` read these `Dataset` / `DatasetDict`
    objects (`textmtl.train(config, datasets={"books": dsdict})`)."""
    token = _DATASETS.set(dict(datasets or {}))
    try:
        yield
    finally:
        _DATASETS.reset(token)


def with_datasets(config: Config, datasets: Mapping[str, Any] | None) -> Config:
    """`config` with a custom task (`format: dataset`) for every in-memory dataset not already
    configured; a config that does not name a benchmark then trains on the datasets alone."""
    if not datasets:
        return config
    from ..config import CustomTaskConfig

    data = config.data.model_copy(deep=True)
    known = {t.name: t for t in data.custom_tasks}
    for name in datasets:
        if name in known:
            known[name].format = "dataset"
        else:
            data.custom_tasks.append(CustomTaskConfig(name=name, format="dataset"))
    if "benchmark" not in config.data.model_fields_set:
        data.benchmark = None
    return config.model_copy(update={"data": data})


def load_tasks(config: Config, data_dir: str | Path | None = None) -> list[TaskData]:
    """Read every task the config names (benchmark tasks and custom tasks; in-memory datasets
    from `provided_datasets`)."""
    d = config.data
    root = resolve_data_dir(data_dir or d.data_dir)
    tasks: list[TaskData] = []
    if d.benchmark is not None:
        tasks = get_benchmark(d.benchmark).load(
            root,
            d.tasks,
            dev_size=d.dev_size,
            merge_dev_into_train=d.merge_dev_into_train,
            skip_bad_lines=d.skip_bad_lines,
            unlabelled=d.unlabelled,
            options=d.benchmark_options,
        )
    elif d.benchmark_options:
        raise ConfigError("data.benchmark_options: set, but data.benchmark is null")
    no_dev_by_choice = {t.name for t in tasks} if d.dev_size == 0 else set()
    no_dev_by_choice |= _custom_tasks_without_dev(config)
    provided = _DATASETS.get() or {}
    for custom in d.custom_tasks:
        spec = custom.model_dump()
        spec["fmt"] = spec.pop("format")
        if spec["fmt"] == "dataset":
            if custom.name not in provided:
                raise ConfigError(
                    f"data.custom_tasks.{custom.name}: its data was an in-memory datasets object; pass it again "
                    f"from Python: datasets={{{custom.name!r}: ...}}"
                )
            spec["fmt"], spec["dataset"] = None, provided[custom.name]
        if not d.unlabelled:
            spec["files"].pop("unlabelled", None)
        tasks.append(load_custom_task(**spec, skip_bad_lines=d.skip_bad_lines))
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f"data: task names must be unique, got {names}")
    caps = d.max_train_examples if isinstance(d.max_train_examples, dict) else {}
    unknown_caps = [t for t in caps if t not in names]
    if unknown_caps:
        raise ConfigError(
            f"data.max_train_examples.{unknown_caps[0]}: no task of that name is loaded (tasks: {', '.join(names)})"
        )
    for t in tasks:  # the caps apply to the final splits (after dev is held out or merged into train)
        cap = caps.get(t.name) if isinstance(d.max_train_examples, dict) else d.max_train_examples
        t.train = _cap(t.train, cap, d.subsample)
        t.dev = _cap(t.dev, d.max_eval_examples, d.subsample)
        t.test = _cap(t.test, d.max_eval_examples, d.subsample)
    if d.derived_tasks:
        tasks = derive_tasks(tasks, d.derived_tasks)
        names = [t.name for t in tasks]
        no_dev_by_choice |= {e.name for e in d.derived_tasks if e.copy_of in no_dev_by_choice}
    for t in tasks:
        if not t.train:
            raise ConfigError(f"data: task '{t.name}' has no training examples")
        if not t.test:
            where = f" ({t.origin['test']} holds none)" if t.origin.get("test") else ""
            raise ConfigError(f"data: task '{t.name}' has no test examples{where}; its scores would be NaN")
    _check_dev_splits(tasks, no_dev_by_choice)
    unknown = [t for t in config.training.select_on or [] if t not in names]
    if unknown:
        raise ConfigError(f"training.select_on: no task named '{unknown[0]}' in this run (tasks: {', '.join(names)})")
    return tasks


def encode_tasks(tasks: list[TaskData], text_encoder: TextEncoder) -> dict[str, EncodedTask]:
    """Token ids of every split of every task."""
    from .batching import EncodedSplit, EncodedTask
    from .tasks import TaskKind

    def split(kind: TaskKind, examples: list[Example]) -> EncodedSplit:
        return EncodedSplit(kind, text_encoder.encode_many(examples), examples)

    return {
        t.name: EncodedTask(
            t.spec,
            split(t.spec.kind, t.train),
            split(t.spec.kind, t.dev),
            split(t.spec.kind, t.test),
            t.input_group,
            split(t.spec.kind, t.unlabelled) if t.unlabelled else None,
        )
        for t in tasks
    }


def _custom_tasks_without_dev(config: Config) -> set[str]:
    """The custom tasks whose config asks for no dev split: `dev_size: 0`, no dev file or part,
    no `dev_fraction`."""
    chosen = set()
    for c in config.data.custom_tasks:
        if c.dev_size == 0 and "dev" not in c.files and c.dev_fraction is None and not (c.splits or {}).get("dev"):
            chosen.add(c.name)
    return chosen


def _check_dev_splits(tasks: list[TaskData], without_dev_by_choice: set[str]) -> None:
    """A run has a dev split on every task (it picks the saved model) or, when every task asked for
    none (`dev_size: 0`), on none: the model after the last step is the one tested."""
    empty = [t for t in tasks if not t.dev]
    if not empty:
        return
    accidental = [t for t in empty if t.name not in without_dev_by_choice]
    if accidental:
        t = accidental[0]
        raise ConfigError(
            f"data: task '{t.name}' has no dev examples (the dev split picks the saved model); give a dev file, "
            "dev_size >= 1 or dev_fraction (or dev_size: 0 on every task: no model selection, the last step is tested)"
        )
    if len(empty) < len(tasks):
        with_dev = next(t.name for t in tasks if t.dev)
        raise ConfigError(
            f"data: task '{empty[0].name}' has dev_size: 0 but task '{with_dev}' has a dev split; give every task a "
            "dev split or none (dev_size: 0 everywhere: the last step is tested)"
        )

"""Tasks derived from loaded tasks (`data.derived_tasks`): copies of a task on the same examples,
optionally with the class order reversed (a label-flipped copy).

A flipped copy and its source label the same sentences in opposite ways: with the same head at
the start (`model.heads_start_equal`) their gradients on the shared encoder are opposite
(cosine -1) on every batch they share, the direct conflict the conflict suites are built on."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from .tasks import Example, TaskData


def flip_label(label: Any, num_classes: int) -> Any:
    """Class i -> K-1-i (the class order reversed: a binary task's two labels swapped)."""
    return None if label is None else num_classes - 1 - int(label)


def derive_tasks(tasks: list[TaskData], derived: Sequence[Any]) -> list[TaskData]:
    """`tasks` followed by the derived tasks that `derived` (DerivedTaskConfig entries) describes."""
    by_name = {t.name: t for t in tasks}
    out = list(tasks)
    for i, entry in enumerate(derived):
        where = f"data.derived_tasks.{i}"
        source = by_name.get(entry.copy_of)
        if source is None:
            raise ConfigError(
                f"{where}.copy_of: no task named '{entry.copy_of}' is loaded (tasks: {', '.join(by_name)})"
            )
        if entry.name in by_name or entry.name in {t.name for t in out}:
            raise ConfigError(f"{where}.name: a task named '{entry.name}' exists already")
        if entry.flip_labels and not source.spec.kind.is_classification:
            raise ConfigError(
                f"{where}.flip_labels: task '{source.name}' is {source.spec.kind.value}; only classification "
                "labels can be flipped"
            )
        k = len(source.spec.labels)

        def relabel(examples: list[Example], flip: bool = entry.flip_labels, k: int = k) -> list[Example]:
            return [dataclasses.replace(e, label=flip_label(e.label, k)) for e in examples] if flip else list(examples)

        group = source.input_group or source.name
        source.input_group = group  # both tasks see the same examples: one forward pass per batch
        copy = TaskData(
            spec=dataclasses.replace(source.spec, name=entry.name),
            train=relabel(source.train),
            dev=relabel(source.dev),
            test=relabel(source.test),
            unlabelled=list(source.unlabelled),
            input_group=group,
            origin={"derived": f"{'label-flipped ' if entry.flip_labels else ''}copy of {source.name}"},
        )
        out.append(copy)
    return out

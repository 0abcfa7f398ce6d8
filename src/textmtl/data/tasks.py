"""Task specifications and in-memory examples: the data model every reader produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TaskKind(StrEnum):
    """What a task predicts; decides the head, the loss and the default metrics."""

    CLASSIFICATION = "classification"  # one text -> one label
    PAIR_CLASSIFICATION = "pair_classification"  # two texts -> one label
    REGRESSION = "regression"  # one or two texts -> one float
    TAGGING = "tagging"  # tokens -> one label per token

    @property
    def default_metrics(self) -> tuple[str, ...]:
        return {
            TaskKind.CLASSIFICATION: ("accuracy",),
            TaskKind.PAIR_CLASSIFICATION: ("accuracy",),
            TaskKind.REGRESSION: ("pearson", "spearman"),
            TaskKind.TAGGING: ("token_accuracy",),
        }[self]

    @property
    def is_classification(self) -> bool:
        return self in (TaskKind.CLASSIFICATION, TaskKind.PAIR_CLASSIFICATION)


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled (or unlabelled) example.

    `label` is a class index (classification), a float (regression), a tuple of tag
    indices (tagging), or None (unlabelled / prediction input). `tokens` holds the
    pre-tokenised words of tagging tasks; `text` is then their space-joined form.
    """

    text: str
    label: int | float | tuple[int, ...] | None = None
    text_pair: str | None = None
    tokens: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TaskSpec:
    """Name, kind, label set and metrics of one task. The first metric is the main one."""

    name: str
    kind: TaskKind
    labels: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.metrics:
            object.__setattr__(self, "metrics", self.kind.default_metrics)

    @property
    def num_outputs(self) -> int:
        """Width of the task head: number of classes/tags, or 1 for regression."""
        return 1 if self.kind == TaskKind.REGRESSION else len(self.labels)

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": str(self.kind), "labels": list(self.labels), "metrics": list(self.metrics)}

    @classmethod
    def from_dict(cls, d: dict) -> TaskSpec:
        return cls(d["name"], TaskKind(d["kind"]), tuple(d.get("labels", ())), tuple(d.get("metrics", ())))


@dataclass
class TaskData:
    """A task with its splits. `unlabelled` holds extra raw text (e.g. FDU-MTL `.task.unlabel`).

    Tasks with the same `input_group` have the same examples in the same order in every split,
    each with its own labels: training then runs one shared forward pass per batch for them.
    """

    spec: TaskSpec
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    unlabelled: list[Example] = field(default_factory=list)
    skipped_lines: int = 0
    input_group: str | None = None  # tasks of one group label the same sentences (e.g. CoNLL-2003 POS/chunk/NER)
    origin: dict[str, str] = field(default_factory=dict)  # where each split came from (custom tasks)

    def sizes(self) -> dict[str, Any]:
        """Examples per split, and where each came from when known (recorded in metrics.json)."""
        counts: dict[str, Any] = {s: len(self.split(s)) for s in ("train", "dev", "test")}
        if self.unlabelled:
            counts["unlabelled"] = len(self.unlabelled)
        if self.origin:
            counts["from"] = dict(self.origin)
        return counts

    @property
    def name(self) -> str:
        return self.spec.name

    def split(self, name: str) -> list[Example]:
        return {"train": self.train, "dev": self.dev, "test": self.test, "unlabelled": self.unlabelled}[name]

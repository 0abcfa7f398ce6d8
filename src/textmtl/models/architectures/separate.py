"""One independent model per task: the single-task learning (STL) reference for Δm%."""

from __future__ import annotations

from torch import nn

from ...data.batching import Batch
from ...data.tasks import TaskSpec
from .base import Architecture, TaskOutput


class SeparateModels(Architecture):
    """A container of single-task architectures; nothing is shared."""

    name = "separate"

    def __init__(self, specs: list[TaskSpec], models: dict[str, Architecture]) -> None:
        super().__init__(specs)
        self.models = nn.ModuleDict(models)

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        return self.models[task](task, batch)

    def shared_parameters(self) -> list[nn.Parameter]:
        return []

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return list(self.models[task].parameters())

"""The architecture interface every gradient method relies on.

An architecture maps a batch of one task to that task's outputs, and says which parameters
are shared between tasks and what the shared representation of that batch is. Gradient
methods (per-task Jacobians on the shared parameters, or gradients on the representation)
need nothing else, so new architectures plug in without touching the trainer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from ...data.batching import Batch
from ...data.tasks import TaskSpec


@dataclass
class TaskOutput:
    logits: torch.Tensor  # [B, C] | [B] (regression) | [B, L, C] (tagging)
    representation: torch.Tensor  # the shared features the task head reads (pooled or per token)


class Architecture(nn.Module, ABC):
    """Multi-task model over a fixed list of tasks."""

    def __init__(self, specs: list[TaskSpec]) -> None:
        super().__init__()
        self.specs = {s.name: s for s in specs}

    @property
    def task_names(self) -> list[str]:
        return list(self.specs)

    @abstractmethod
    def forward(self, task: str, batch: Batch) -> TaskOutput: ...

    @abstractmethod
    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters that receive gradients from more than one task."""

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """Parameters only `task` uses (its head, private encoder, ...)."""
        shared = {id(p) for p in self.shared_parameters()}
        others = {id(p) for t in self.task_names if t != task for p in self._task_only(t)}
        return [p for p in self._task_only(task) if id(p) not in shared and id(p) not in others]

    @abstractmethod
    def _task_only(self, task: str) -> list[nn.Parameter]: ...

    def description(self) -> dict:
        """JSON-serialisable settings needed to rebuild this architecture (stored in model.json)."""
        return {}

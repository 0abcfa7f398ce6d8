"""Task heads and their losses, chosen by the task kind."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batching import IGNORE_INDEX
from ..data.tasks import TaskKind, TaskSpec


class TaskHead(nn.Module):
    """Dropout + a linear layer on the pooled vector (classification, regression) or on every token (tagging)."""

    def __init__(self, spec: TaskSpec, input_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.kind = spec.kind
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(input_dim, spec.num_outputs)

    @property
    def uses_tokens(self) -> bool:
        return self.kind == TaskKind.TAGGING

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.linear(self.dropout(features))
        return out.squeeze(-1) if self.kind == TaskKind.REGRESSION else out


def copy_head(model: nn.Module, source: str, target: str) -> None:
    """Start task `target`'s head(s) as copies of task `source`'s: the TaskHead modules keyed by the
    two task names in the same ModuleDict. Raises ValueError when the model has no such pair."""
    modules = dict(model.named_modules())
    copied = 0
    for name, module in modules.items():
        prefix, _, task = name.rpartition(".")
        if task != source or not isinstance(module, TaskHead):
            continue
        twin = modules.get(f"{prefix}.{target}" if prefix else target)
        if isinstance(twin, TaskHead):
            twin.load_state_dict(module.state_dict())
            copied += 1
    if not copied:
        raise ValueError(f"no head of task '{source}' beside one of task '{target}' in {type(model).__name__}")


def task_loss(kind: TaskKind, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (classification, tagging over real tokens) or mean squared error (regression)."""
    if kind == TaskKind.REGRESSION:
        return F.mse_loss(logits, labels)
    if kind == TaskKind.TAGGING:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX)
    return F.cross_entropy(logits, labels)


def predictions(kind: TaskKind, logits: torch.Tensor) -> torch.Tensor:
    return logits if kind == TaskKind.REGRESSION else logits.argmax(-1)

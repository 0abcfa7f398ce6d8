"""Hard parameter sharing (Caruana 1997): one shared encoder, one head per task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from torch import nn

from ...data.batching import Batch
from ...data.tasks import TaskSpec
from ...registry import architectures
from ..encoders import Encoder
from ..heads import TaskHead
from .base import Architecture, TaskOutput


@architectures.register("hard")
class HardSharing(Architecture):
    """All encoder parameters are shared; the shared representation is the encoder output."""

    name = "hard"

    def __init__(self, specs: list[TaskSpec], encoder: Encoder) -> None:
        super().__init__(specs)
        self.encoder = encoder
        self.heads = nn.ModuleDict({s.name: TaskHead(s, encoder.output_dim, encoder.output_dropout) for s in specs})

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        head = self.heads[task]
        out = self.encoder(batch, tokens=head.uses_tokens)
        rep = out.tokens if head.uses_tokens else out.pooled
        return TaskOutput(head(rep), rep)

    def forward_shared(self, tasks: Sequence[str], batch: Batch) -> dict[str, TaskOutput]:
        """One encoder pass for tasks labelling the same inputs: tasks reading the same features
        get the SAME representation tensor (gradient methods detect shared inputs that way)."""
        out = self.encoder(batch, tokens=any(self.reads_tokens(t) for t in tasks))
        result = {}
        for t in tasks:
            rep = out.tokens if self.reads_tokens(t) else out.pooled
            result[t] = TaskOutput(self.heads[t](rep), rep)
        return result

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def task_path(self, task: str) -> tuple[Encoder, TaskHead]:
        return self.encoder, cast(TaskHead, self.heads[task])

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task].parameters())

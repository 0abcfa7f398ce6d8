"""CONTRIBUTING recipe 2, an architecture with its own settings block (`model.toy_adapter`)."""

from __future__ import annotations

from pydantic import Field
from torch import nn

from textmtl.data.batching import Batch
from textmtl.data.tasks import TaskSpec
from textmtl.models.architectures import Architecture, ArchitectureSettings, TaskOutput
from textmtl.models.encoders import Encoder
from textmtl.models.heads import TaskHead
from textmtl.registry import architectures


class ToyAdapterSettings(ArchitectureSettings):
    """`model.toy_adapter`: width of each task's private adapter."""

    hidden: int = Field(default=8, ge=1)


@architectures.register("toy_adapter", settings=ToyAdapterSettings)
class ToyAdapter(Architecture):
    """Toy: a shared encoder, then a private tanh adapter and a head per task."""

    name = "toy_adapter"

    def __init__(self, specs: list[TaskSpec], encoder: Encoder, settings: ToyAdapterSettings | None = None) -> None:
        super().__init__(specs)
        self.settings = settings or ToyAdapterSettings()
        self.encoder = encoder
        width = self.settings.hidden
        self.adapters = nn.ModuleDict({s.name: nn.Sequential(nn.Linear(encoder.output_dim, width), nn.Tanh())
                                       for s in specs})
        self.heads = nn.ModuleDict({s.name: TaskHead(s, width, encoder.output_dropout) for s in specs})

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        shared = self.encoder(batch).pooled
        return TaskOutput(self.heads[task](self.adapters[task](shared)), shared)

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return list(self.adapters[task].parameters()) + list(self.heads[task].parameters())

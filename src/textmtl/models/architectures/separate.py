"""One independent model per task, each trained as its own job: single-task learning (STL).

`method: stl` is a shorthand for this architecture trained with `ls` (the config sets
`model.architecture: separate`). Each task gets a plain hard-sharing model of its own (its
own encoder and head) and its own training job (`training_jobs`): its own steps, its own best
dev checkpoint, RNGs re-seeded with `seed + task index`. Nothing is shared, so no gradient
method has anything to act on; it is the reference that Δm% is measured against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from torch import nn

from ...data.batching import Batch
from ...data.tasks import TaskSpec
from ...registry import architectures
from .base import Architecture, BuildContext, TaskOutput, TrainingJob
from .hard import HardSharing

if TYPE_CHECKING:
    from ..encoders import Encoder
    from ..heads import TaskHead


@architectures.register("separate")
class SeparateModels(Architecture):
    """A container of single-task models; nothing is shared, and each is trained as its own job."""

    name = "separate"

    def __init__(self, specs: list[TaskSpec], models: dict[str, Architecture]) -> None:
        super().__init__(specs)
        self.models = nn.ModuleDict(models)

    @classmethod
    def build(cls, ctx: BuildContext) -> SeparateModels:
        return cls(ctx.specs, {s.name: HardSharing([s], ctx.new_encoder()) for s in ctx.specs})

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        return self.models[task](task, batch)

    def task_path(self, task: str) -> tuple[Encoder, TaskHead] | None:
        return cast(Architecture, self.models[task]).task_path(task)

    def shared_parameters(self) -> list[nn.Parameter]:
        return []

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return list(self.models[task].parameters())

    def training_jobs(self) -> list[TrainingJob]:
        """One job per task, on that task's own model, seeded with seed + task index."""
        return [
            TrainingJob(cast(Architecture, self.models[t]), [t], label=t, seed_offset=i)
            for i, t in enumerate(self.task_names)
        ]

"""One independent model per task, each trained as its own job: single-task learning (STL).

`method: stl` is a shorthand for this architecture trained with `ls` (the config sets
`model.architecture: separate`). Each task gets a model of its own, of the architecture in
`model.separate.each`: `hard` (default: its own encoder and head) or `modular` (its own copy of the
pretrained transformer with the modules of `model.modular`, i.e. exactly the path the task has in
the multi-task model, frozen backbone included). A config that says `method: stl` with
`model.architecture: modular` gets `each: modular` and keeps its `modular` block, so the
single-task reference of a LoRA grid is a LoRA model too. Each task gets its own training job
(`training_jobs`): its own steps, its own best dev checkpoint, RNGs re-seeded with
`seed + task index`. Nothing is shared, so no gradient method has anything to act on; it is the
reference that Δm% is measured against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from torch import nn

from ...data.batching import Batch
from ...data.tasks import TaskSpec
from ...registry import architectures
from .base import Architecture, ArchitectureSettings, BuildContext, TaskOutput, TrainingJob

if TYPE_CHECKING:
    from ..encoders import Encoder
    from ..heads import TaskHead


class SeparateConfig(ArchitectureSettings):
    """`model.separate`: the architecture of each task's own model."""

    # architectures that make sense for one task alone (the others exist to share between tasks)
    EACH: ClassVar[tuple[str, ...]] = ("hard", "modular")
    each: Literal["hard", "modular"] = "hard"

    def nested_architectures(self) -> list[str]:
        return [self.each]

    @classmethod
    def implied_in_place_of(cls, architecture: str | None) -> dict[str, Any] | None:
        """`method: stl` over `model.architecture: modular` trains one modular model per task."""
        return {"each": architecture} if architecture in cls.EACH and architecture != "hard" else None


@architectures.register("separate", settings=SeparateConfig)
class SeparateModels(Architecture):
    """A container of single-task models; nothing is shared, and each is trained as its own job."""

    name = "separate"

    def __init__(
        self, specs: list[TaskSpec], models: dict[str, Architecture], settings: SeparateConfig | None = None
    ) -> None:
        super().__init__(specs)
        self.models = nn.ModuleDict(models)
        self.settings = settings or SeparateConfig()

    @classmethod
    def build(cls, ctx: BuildContext) -> SeparateModels:
        settings = ctx.settings or SeparateConfig()
        inner = architectures.get(settings.each)
        models = {s.name: inner.build(ctx.for_architecture(settings.each, [s])) for s in ctx.specs}
        return cls(ctx.specs, models, settings)

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        return self.models[task](task, batch)

    def task_path(self, task: str) -> tuple[Encoder, TaskHead] | None:
        return cast(Architecture, self.models[task]).task_path(task)

    def shared_parameters(self) -> list[nn.Parameter]:
        return []

    def _task_only(self, task: str) -> list[nn.Parameter]:
        """What trains in `task`'s own model (a frozen backbone is not counted)."""
        model = cast(Architecture, self.models[task])
        return model.shared_parameters() + model.task_parameters(task)

    def training_jobs(self) -> list[TrainingJob]:
        """One job per task, on that task's own model, seeded with seed + task index."""
        return [
            TrainingJob(cast(Architecture, self.models[t]), [t], label=t, seed_offset=i)
            for i, t in enumerate(self.task_names)
        ]

    # ------------------------------------------------------------------ what a run stores

    @property
    def base_folder(self) -> Any:
        """The pretrained folder of the task models' frozen backbones (they all read the same one)."""
        return next((getattr(m, "base_folder", None) for m in self.models.values()), None)

    def frozen_state_keys(self) -> set[str]:
        return {f"models.{t}.{k}" for t, m in self.models.items() for k in cast(Architecture, m).frozen_state_keys()}

    def parameter_counts(self) -> dict[str, Any]:
        counts = super().parameter_counts()
        frozen = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        if frozen:
            counts["frozen"] = frozen
        return counts

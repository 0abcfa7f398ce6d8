"""Multi-level supervision (the survey's "parallel multi-level supervision", Chen et al. 2021 §2;
Søgaard & Goldberg 2016, "Deep multi-task learning with low level tasks supervised at lower
layers"; Sanh et al. 2019, HMTL): low-level tasks are supervised at a lower layer of the shared
encoder, higher-level (sentence-level or harder) tasks at a higher one.

`model.hierarchical.levels` maps tasks to levels (1 = lowest; unlisted tasks go to the top
level), e.g. `{pos: 1, chunk: 1, ner: 2}`; level ℓ reads the output of encoder layer
`layers[ℓ-1]` (1-based; default: spread evenly, layer round(ℓ N / n) of N layers for n levels,
so a 2-layer BiLSTM gives POS/chunk layer 1 and NER layer 2, and MiniLM-L6 layers 3 and 6).
A task reads its layer's token states (tagging) or that layer pooled as the encoder pools its
last layer. It needs an encoder with stacked layers: a BiLSTM with `num_layers` >= the number
of levels, or a transformer; a TextCNN has one layer.

Gradient methods: all encoder parameters are shared (layers above a task's level just get no
gradient from it); task k's own parameters are its head; the representation is the layer
output task k reads (under the `representation` back-end, tasks at different levels have
rows in different tensors).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, field_validator
from torch import nn

from ...data.batching import Batch
from ...data.tasks import TaskSpec
from ...errors import ConfigError
from ...registry import architectures
from ..encoders import Encoder, EncoderOutput
from ..heads import TaskHead
from .base import Architecture, ArchitectureSettings, TaskOutput


def resolve_layers(settings: HierarchicalConfig, tasks: Sequence[str], num_layers: int) -> dict[str, int]:
    """Encoder layer (1-based) read by each task; ConfigError naming the key on bad settings."""
    unknown = [t for t in settings.levels if t not in tasks]
    if unknown:
        raise ConfigError(
            f"model.hierarchical.levels: unknown task(s) {', '.join(map(repr, unknown))} (tasks: {', '.join(tasks)})"
        )
    top = max([*settings.levels.values(), len(settings.layers or [])], default=1)
    levels = {t: settings.levels.get(t, top) for t in tasks}
    if settings.layers is not None:
        if len(settings.layers) < top:
            raise ConfigError(f"model.hierarchical.layers: {len(settings.layers)} layer(s) given for {top} levels")
        layers = list(settings.layers)
    else:
        layers = [max(1, round(level * num_layers / top)) for level in range(1, top + 1)]
    if max(layers) > num_layers or len(set(layers)) < top:
        what = "model.hierarchical.layers" if settings.layers is not None else "model.hierarchical.levels"
        raise ConfigError(
            f"{what}: {top} level(s) on layers {layers} need an encoder with at least "
            f"{max(top, max(layers))} stacked layers, but it has {num_layers} (use a bilstm with "
            f"num_layers >= {max(top, max(layers))}, or a transformer)"
        )
    return {t: layers[levels[t] - 1] for t in tasks}


class HierarchicalConfig(ArchitectureSettings):
    """`hierarchical` (multi-level supervision, Søgaard & Goldberg 2016; Sanh et al. 2019)."""

    levels: dict[str, int] = Field(default_factory=dict)  # task -> level (1 = lowest); unlisted tasks: the top level
    layers: list[int] | None = None  # encoder layer (1-based) read at each level; None: spread evenly

    @field_validator("levels")
    @classmethod
    def _positive_levels(cls, v: dict[str, int]) -> dict[str, int]:
        bad = {t: n for t, n in v.items() if n < 1}
        if bad:
            raise ValueError(f"levels start at 1, got {bad}")
        return v

    @field_validator("layers")
    @classmethod
    def _positive_layers(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(n < 1 for n in v)):
            raise ValueError("expected a non-empty list of layer numbers >= 1")
        return v


@architectures.register("hierarchical", settings=HierarchicalConfig)
class Hierarchical(Architecture):
    name = "hierarchical"

    def __init__(self, specs: list[TaskSpec], encoder: Encoder, settings: HierarchicalConfig | None = None) -> None:
        super().__init__(specs)
        self.settings = settings or HierarchicalConfig()
        self.encoder = encoder
        self.layer_of = resolve_layers(self.settings, [s.name for s in specs], encoder.num_layers)
        self.heads = nn.ModuleDict({s.name: TaskHead(s, encoder.output_dim, encoder.output_dropout) for s in specs})

    def _output(self, task: str, layers: list[EncoderOutput]) -> TaskOutput:
        head = self.heads[task]
        out = layers[self.layer_of[task] - 1]
        rep = out.tokens if head.uses_tokens else out.pooled
        assert rep is not None
        return TaskOutput(head(rep), rep)

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        layers = self.encoder.layer_outputs(batch, tokens=self.reads_tokens(task), upto=self.layer_of[task])
        return self._output(task, layers)

    def forward_shared(self, tasks: Sequence[str], batch: Batch) -> dict[str, TaskOutput]:
        layers = self.encoder.layer_outputs(
            batch, tokens=any(self.reads_tokens(t) for t in tasks), upto=max(self.layer_of[t] for t in tasks)
        )
        return {t: self._output(t, layers) for t in tasks}

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task].parameters())

    def description(self) -> dict:
        return {"architecture": self.name, **self.settings.model_dump(), "layer_of_task": dict(self.layer_of)}

"""Multi-gate mixture of experts, MMoE (Ma et al. 2018, KDD, "Modeling Task Relationships in
Multi-task Learning with Multi-gate Mixture-of-Experts", Eqs. 5-6), on text representations.

The shared encoder maps the text to x (pooled, or per token for tagging). E experts
f_e(x) = ReLU(W_e x + b_e) are shared by all tasks; task k mixes them with its own gate
g^k(x) = softmax(W_gk x) and its head reads y_k = Σ_e g^k_e(x) f_e(x) (Eq. 5-6). The experts
are single layers on the shared encoder's output (E full encoders would multiply the encoder
cost by E).

Gradient methods: shared = encoder + experts; task k's own = its gate and head. The
representation is z = [x; f_1(x); ...; f_E(x)] (one tensor; the gate reads its x part, the
mixture its expert part): everything upstream of z is shared and everything downstream
task-specific, as the `representation` back-end requires. `evaluation_record` adds the mean
gate weights per task (a K x E matrix) on the evaluation data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from pydantic import Field
from torch import nn

from ...data.batching import IGNORE_INDEX, Batch
from ...data.tasks import TaskSpec
from ...registry import architectures
from ..encoders import Encoder
from ..heads import TaskHead
from .base import Architecture, ArchitectureSettings, TaskOutput


class MMoEConfig(ArchitectureSettings):
    """`mmoe` (Ma et al. 2018): shared experts on the encoder output, a softmax gate per task."""

    num_experts: int = Field(default=4, ge=1)
    expert_size: int | None = Field(default=None, ge=1)  # None: the encoder's output width


@architectures.register("mmoe", settings=MMoEConfig)
class MMoE(Architecture):
    name = "mmoe"

    def __init__(self, specs: list[TaskSpec], encoder: Encoder, settings: MMoEConfig | None = None) -> None:
        super().__init__(specs)
        self.settings = settings or MMoEConfig()
        self.encoder = encoder
        width, experts = encoder.output_dim, self.settings.num_experts
        self.expert_size = self.settings.expert_size or width
        bound = 1.0 / width**0.5
        self.expert_weight = nn.Parameter(torch.empty(experts, width, self.expert_size).uniform_(-bound, bound))
        self.expert_bias = nn.Parameter(torch.zeros(experts, self.expert_size))
        self.gates = nn.ModuleDict({s.name: nn.Linear(width, experts) for s in specs})
        self.heads = nn.ModuleDict({s.name: TaskHead(s, self.expert_size, encoder.output_dropout) for s in specs})

    def represent(self, x: torch.Tensor) -> torch.Tensor:
        """z = [x; f_1(x); ...; f_E(x)], [..., H + E * d]."""
        experts = torch.relu(torch.einsum("...h,ehd->...ed", x, self.expert_weight) + self.expert_bias)
        return torch.cat([x, experts.flatten(-2)], dim=-1)

    def gate(self, task: str, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.gates[task](z[..., : self.encoder.output_dim]), dim=-1)

    def _output(self, task: str, z: torch.Tensor) -> TaskOutput:
        experts = z[..., self.encoder.output_dim :].unflatten(-1, (self.settings.num_experts, self.expert_size))
        g = self.gate(task, z)
        mixed = (g.unsqueeze(-1) * experts).sum(-2)
        return TaskOutput(self.heads[task](mixed), z, {"gate": g})

    def _encode(self, batch: Batch, tokens: bool) -> torch.Tensor:
        out = self.encoder(batch, tokens=tokens)
        x = out.tokens if tokens else out.pooled
        assert x is not None
        return self.represent(x)

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        return self._output(task, self._encode(batch, self.reads_tokens(task)))

    def forward_shared(self, tasks: Sequence[str], batch: Batch) -> dict[str, TaskOutput]:
        uses = {self.reads_tokens(t) for t in tasks}
        z = {u: self._encode(batch, u) for u in uses}  # one pass per feature kind (tokens / pooled)
        return {t: self._output(t, z[self.reads_tokens(t)]) for t in tasks}

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in [*self.encoder.parameters(), self.expert_weight, self.expert_bias] if p.requires_grad]

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return list(self.gates[task].parameters()) + list(self.heads[task].parameters())

    @torch.no_grad()
    def gate_matrix(self, batches: Mapping[str, Sequence[Batch]]) -> dict[str, list[float]]:
        """Mean gate weights of each task over its evaluation inputs (rows: tasks, columns: experts)."""
        was_training = self.training
        self.eval()
        rows = {}
        for task, task_batches in batches.items():
            total, count = torch.zeros(self.settings.num_experts), 0
            for batch in task_batches:
                g = self.forward(task, batch).extras["gate"]
                if g.dim() == 3:  # tagging: real tokens only
                    keep = batch.labels != IGNORE_INDEX if batch.labels is not None else batch.attention_mask
                    g = g[keep]
                total += g.sum(0).float().cpu()
                count += g.shape[0]
            if count:
                rows[task] = [round(float(v), 6) for v in total / count]
        self.train(was_training)
        return rows

    def evaluation_record(self, batches: Mapping[str, Sequence[Batch]]) -> dict[str, Any]:
        return {"mmoe_gates": self.gate_matrix(batches)}

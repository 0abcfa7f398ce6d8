"""What the two graph architectures (`graph_complete`, `graph_star`) have in common.

After Liu, Fu, Dong, Qiu & Cheung (AAAI 2019, "Learning Multi-Task Communication with Message
Passing for Sequence Learning"; arXiv 1811.10211 "Multi-task Learning over Graph Structures"):
every task is a node with its own state for the current input, and tasks exchange
input-dependent messages.

Node states (a choice made for cost, documented): the paper gives each task its own LSTM over
the words; here every input is encoded ONCE by the shared encoder (s = E(x), pooled or per
token), and task k's node state is its own projection h_k = tanh(W_k s + b_k). With K = 16
FDU-MTL domains this costs one encoder pass plus K small projections per input instead of K
LSTM passes. Every input updates ALL K nodes (the graph is the same whichever task the input
belongs to); the input's own task then reads, with its head, the shared features next to its
node's final state, [s; h_k'] (the skip connection keeps the node size from being a bottleneck:
without it, learning on CoNLL-2003 started about twice as slowly as hard sharing).

Gradient methods: everything but the heads is shared (task j's projection feeds every other
task's messages, so it is not task j's own). The representation is the head's input
[s; h_k']. Under the `representation` back-end these are different tensors per task, so task
rows live in separate blocks (no conflicts visible there; use `parameters` to see them).

The K x K communication matrix (`communication_matrix`, in every history record and in
metrics.json) averages, for each task k, the weights with which k received information from
each task j over task k's evaluation inputs (real tokens for tagging); its definition is
architecture-specific (see each module).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from pydantic import Field
from torch import nn

from ...data.batching import IGNORE_INDEX, Batch
from ...data.tasks import TaskSpec
from ..encoders import Encoder
from ..heads import TaskHead
from .base import Architecture, ArchitectureSettings, TaskOutput


class GraphConfig(ArchitectureSettings):
    """`graph_complete` / `graph_star` (Liu et al. 2019, message passing between task nodes)."""

    node_size: int = Field(default=64, ge=1)  # width of each task's node state
    rounds: int = Field(default=1, ge=1, le=4)  # message-passing rounds


class TaskNodes(nn.Module):
    """h_k = tanh(W_k s + b_k) for every task k at once: [..., H] -> [..., K, d]."""

    def __init__(self, num_tasks: int, input_dim: int, node_size: int) -> None:
        super().__init__()
        bound = 1.0 / input_dim**0.5
        self.weight = nn.Parameter(torch.empty(num_tasks, input_dim, node_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(num_tasks, node_size))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return torch.tanh(torch.einsum("...i,kid->...kd", s, self.weight) + self.bias)


class GraphArchitecture(Architecture):
    """Shared encoder -> K task nodes -> `rounds` of message passing -> each task's head on its node."""

    communication_definition: str = ""

    def __init__(self, specs: list[TaskSpec], encoder: Encoder, settings: GraphConfig | None = None) -> None:
        super().__init__(specs)
        self.settings = settings or GraphConfig()
        self.encoder = encoder
        self.index = {s.name: i for i, s in enumerate(specs)}
        d = self.settings.node_size
        self.nodes = TaskNodes(len(specs), encoder.output_dim, d)
        self.layers = nn.ModuleList(self._make_round(i, encoder.output_dim, d) for i in range(self.settings.rounds))
        self.heads = nn.ModuleDict({s.name: TaskHead(s, encoder.output_dim + d, encoder.output_dropout) for s in specs})

    @abstractmethod
    def _make_round(self, index: int, input_dim: int, node_size: int) -> nn.Module:
        """Round `index` (0-based) of message passing: module(c, h) -> (new h [..., K, d],
        weights [..., K, K], the context c of the next round); the first round gets c = s."""

    def propagate(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Final node states [..., K, d] and the last round's communication weights [..., K, K]
        (row k: how much task k received from each task j)."""
        h = self.nodes(s)
        weights = torch.zeros(*h.shape[:-1], h.shape[-2], dtype=h.dtype, device=h.device)
        context = s
        for layer in self.layers:
            h, weights, context = layer(context, h)
        return h, weights

    def _features(self, batch: Batch, tokens: bool) -> torch.Tensor:
        out = self.encoder(batch, tokens=tokens)
        s = out.tokens if tokens else out.pooled
        assert s is not None
        return s

    def _output(self, task: str, s: torch.Tensor, h: torch.Tensor) -> TaskOutput:
        rep = torch.cat([s, h[..., self.index[task], :]], dim=-1)
        return TaskOutput(self.heads[task](rep), rep)

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        s = self._features(batch, self.reads_tokens(task))
        return self._output(task, s, self.propagate(s)[0])

    def forward_shared(self, tasks: Sequence[str], batch: Batch) -> dict[str, TaskOutput]:
        features = {u: self._features(batch, u) for u in {self.reads_tokens(t) for t in tasks}}
        states = {u: self.propagate(s)[0] for u, s in features.items()}
        return {t: self._output(t, features[u], states[u]) for t in tasks for u in [self.reads_tokens(t)]}

    def shared_parameters(self) -> list[nn.Parameter]:
        modules = [self.encoder, self.nodes, self.layers]
        return [p for m in modules for p in m.parameters() if p.requires_grad]

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return list(self.heads[task].parameters())

    @torch.no_grad()
    def communication_matrix(self, batches: Mapping[str, Sequence[Batch]]) -> list[list[float | None]]:
        """K x K: row k = mean over task k's inputs in `batches` (its real tokens for tagging) of the
        weights task k received from each task (rows of tasks without inputs are None)."""
        was_training = self.training
        self.eval()
        k_all = len(self.index)
        rows: list[list[float | None]] = [[None] * k_all for _ in range(k_all)]
        for task, task_batches in batches.items():
            k, tokens = self.index[task], self.reads_tokens(task)
            total, count = torch.zeros(k_all, dtype=torch.float64), 0
            for batch in task_batches:
                _, weights = self.propagate(self._features(batch, tokens))
                w = weights[..., k, :]
                if tokens:
                    w = w[batch.labels != IGNORE_INDEX] if batch.labels is not None else w[batch.attention_mask]
                total += w.sum(0).double().cpu()
                count += w.shape[0]
            if count:
                rows[k] = [round(float(v), 6) for v in total / count]
        self.train(was_training)
        return rows

    def evaluation_record(self, batches: Mapping[str, Sequence[Batch]]) -> dict[str, Any]:
        return {
            "communication": {
                "architecture": self.name,
                "tasks": self.task_names,
                "matrix": self.communication_matrix(batches),
                "definition": self.communication_definition,
            }
        }

"""Complete-graph MTL (Liu et al. 2019, "Learning Multi-Task Communication with Message Passing
for Sequence Learning", AAAI, complete-graph model; see `_graph` for the node states).

Every task is a node; for each input, each task k receives an input-dependent message from
every OTHER task and updates its state with it:

    α_kj(x) = softmax_{j ≠ k}( (W_q h_k)ᵀ (W_k h_j) / √d )      (the diagonal j = k is masked)
    m_k     = Σ_{j ≠ k} α_kj(x) W_v h_j
    h_k'    = GRU(m_k, h_k)

so a task's message never contains its own state (α_kk = 0 exactly). Cost per input and round:
O(K d²) for the projections and O(K² d) for the K x K attention (the pairwise part, which grows
with the number of task pairs). With a single task there is nobody to listen to: m = 0.

Communication matrix: M[k, j] = mean of α_kj(x) over task k's evaluation inputs (real tokens
for tagging), last round; rows sum to 1 (K > 1) and the diagonal is 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...registry import architectures
from ._graph import GraphArchitecture, GraphConfig


class CompleteGraphRound(nn.Module):
    """One round of attention-weighted message passing between all pairs of distinct tasks."""

    def __init__(self, node_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(node_size, node_size)
        self.key = nn.Linear(node_size, node_size)
        self.value = nn.Linear(node_size, node_size, bias=False)
        self.update = nn.GRUCell(node_size, node_size)

    def messages(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(m [..., K, d], α [..., K, K]) with α_kk = 0."""
        k = h.shape[-2]
        scores = self.query(h) @ self.key(h).transpose(-1, -2) / math.sqrt(h.shape[-1])
        self_loop = torch.eye(k, dtype=torch.bool, device=h.device)
        if k == 1:
            alpha = torch.zeros_like(scores)
        else:
            alpha = torch.softmax(scores.masked_fill(self_loop, float("-inf")), dim=-1)
        return alpha @ self.value(h), alpha

    def forward(self, s: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m, alpha = self.messages(h)
        d = h.shape[-1]
        new = self.update(m.reshape(-1, d), h.reshape(-1, d)).view_as(h)
        return new, alpha, s


@architectures.register("graph_complete", settings=GraphConfig, block="graph")
class CompleteGraph(GraphArchitecture):
    name = "graph_complete"
    communication_definition = (
        "M[k][j] = mean over task k's inputs of the attention weight alpha_kj(x) with "
        "which task k received task j's message (last round); diagonal 0, rows sum to 1"
    )

    def _make_round(self, index: int, input_dim: int, node_size: int) -> nn.Module:
        del index, input_dim
        return CompleteGraphRound(node_size)

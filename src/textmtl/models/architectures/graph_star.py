"""Star-graph MTL (Liu et al. 2019, AAAI, star-graph model: a shared "virtual node" / mailbox
that all tasks communicate through; see `_graph` for the node states).

For each input, with the task nodes h_1..h_K and the virtual node's own view v = tanh(W_v s):

    w_j   = σ(a_wᵀ [h_j; v] + c_w)                       write gate of task j (a scalar)
    hub   = tanh(U_v v + (1/K) Σ_j w_j U_h h_j)          the virtual node after all tasks wrote
    r_k   = σ(a_rᵀ [h_k; hub] + c_r)                     read gate of task k (a scalar)
    h_k'  = GRU(r_k · hub, h_k)

(later rounds use the previous hub as v). Tasks never talk directly: every exchange goes
through the hub, so the cost per input and round is O(K d²), linear in K (the complete graph
also has an O(K² d) pairwise part).

Communication matrix (a definition, since the star has no pairwise edges): the share of task j
in what task k reads is the product of j's write strength and k's read strength,
C[k, j] = r_k(x) · w_j(x) / K, averaged over task k's evaluation inputs (real tokens for
tagging), last round. Rows sum to at most 1. The diagonal is kept: a task also reads back what
it wrote to the hub.
"""

from __future__ import annotations

import torch
from torch import nn

from ...registry import architectures
from ._graph import GraphArchitecture, GraphConfig


class StarGraphRound(nn.Module):
    """Gated writes of every task into the virtual node, then gated reads back."""

    def __init__(self, view_dim: int, node_size: int) -> None:
        super().__init__()
        self.view = nn.Linear(view_dim, node_size)  # the encoder output (round 1) or the previous hub
        self.write_gate = nn.Linear(2 * node_size, 1)
        self.write = nn.Linear(node_size, node_size, bias=False)
        self.hub = nn.Linear(node_size, node_size)
        self.read_gate = nn.Linear(2 * node_size, 1)
        self.update = nn.GRUCell(node_size, node_size)

    def gates(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(write gates [..., K], hub [..., d], read gates [..., K])."""
        k = h.shape[-2]
        w = torch.sigmoid(self.write_gate(torch.cat([h, v.unsqueeze(-2).expand_as(h)], dim=-1))).squeeze(-1)
        hub = torch.tanh(self.hub(v) + (w.unsqueeze(-1) * self.write(h)).sum(-2) / k)
        r = torch.sigmoid(self.read_gate(torch.cat([h, hub.unsqueeze(-2).expand_as(h)], dim=-1))).squeeze(-1)
        return w, hub, r

    def forward(self, c: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        v = torch.tanh(self.view(c))
        w, hub, r = self.gates(v, h)
        d, k = h.shape[-1], h.shape[-2]
        read = r.unsqueeze(-1) * hub.unsqueeze(-2)
        new = self.update(read.reshape(-1, d), h.reshape(-1, d)).view_as(h)
        return new, r.unsqueeze(-1) * w.unsqueeze(-2) / k, hub


@architectures.register("graph_star", settings=GraphConfig, block="graph")
class StarGraph(GraphArchitecture):
    name = "graph_star"
    communication_definition = (
        "C[k][j] = mean over task k's inputs of r_k(x) * w_j(x) / K: task j's write-gate "
        "strength times task k's read-gate strength through the virtual node (last round); "
        "the diagonal is what a task reads back of its own write"
    )

    def _make_round(self, index: int, input_dim: int, node_size: int) -> nn.Module:
        return StarGraphRound(input_dim if index == 0 else node_size, node_size)

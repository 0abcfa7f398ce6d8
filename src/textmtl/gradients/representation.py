"""The `representation` back-end: task gradients w.r.t. the shared representation (MGDA-UB style).

Each task's gradient is taken w.r.t. the representation its head reads (K cheap backward passes
through the heads only); the method combines those rows, and the combined gradient is pushed
through the encoder in one backward pass. This is an APPROXIMATION of the `parameters` back-end
(Sener & Koltun 2018, §3.3 "MGDA-UB" bound; Nash-MTL App. C reports it can hurt): it ignores how
the encoder's Jacobian mixes the rows. With disjoint inputs (each task its own batch, the
multi-domain setting) the task rows live in disjoint blocks of the representation space, so
their Gram matrix is diagonal and conflicts between tasks are invisible at this level; with
shared inputs (one batch, several heads) the rows share one space and conflicts are seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn


class RepresentationSpace:
    """The distinct representation tensors of a step, laid end to end as one flat space."""

    def __init__(self, representations: Mapping[str, torch.Tensor]) -> None:
        self.tensors: list[torch.Tensor] = []
        self.slot: dict[str, int] = {}
        for task, rep in representations.items():
            for i, seen in enumerate(self.tensors):
                if seen is rep:
                    self.slot[task] = i
                    break
            else:
                self.slot[task] = len(self.tensors)
                self.tensors.append(rep)
        self.sizes = [t.numel() for t in self.tensors]
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.size = sum(self.sizes)

    def backward(self, flat: torch.Tensor) -> None:
        """Push a combined representation gradient through the encoder (one backward pass)."""
        grads = [chunk.view_as(t) for t, chunk in zip(self.tensors, torch.split(flat, self.sizes))]
        torch.autograd.backward(self.tensors, grads)


def representation_jacobian(
    losses: Mapping[str, torch.Tensor],
    representations: Mapping[str, torch.Tensor],
    task_params: Mapping[str, Sequence[nn.Parameter]],
) -> tuple[torch.Tensor, RepresentationSpace]:
    """Rows ∂ℓ_k/∂z (K x dim of the representation space); heads get their plain gradient."""
    space = RepresentationSpace({t: representations[t] for t in losses})
    ref = space.tensors[0]
    jac = torch.zeros((len(losses), space.size), dtype=ref.dtype, device=ref.device)
    for k, (task, loss) in enumerate(losses.items()):
        own = [p for p in task_params.get(task, ()) if p.requires_grad]
        rep = space.tensors[space.slot[task]]
        grads = torch.autograd.grad(loss, [rep, *own], retain_graph=True, allow_unused=True, materialize_grads=True)
        start = space.offsets[space.slot[task]]
        jac[k, start : start + rep.numel()] = grads[0].reshape(-1)
        for p, g in zip(own, grads[1:]):
            p.grad = g if p.grad is None else p.grad + g
    return jac, space

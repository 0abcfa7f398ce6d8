"""The gradient geometry of a multi-task model on fixed probe batches: per-task gradients on the
shared parameters (what the `parameters` back-end combines) and on the shared representation (what
the `representation` back-end combines), their pairwise cosines and norms, and the task losses.

The probe does not train: it reads gradients with `torch.autograd.grad` (no `.grad` is written),
with dropout off, so probing at a step does not change the run that continues after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..data.batching import Batch, EncodedTask, collate
from ..gradients.diagnostics import cosine_matrix
from ..models.architectures.base import Architecture
from ..models.heads import task_loss


@dataclass
class Probe:
    """The geometry at one step. Cosine matrices are K x K in `tasks` order; `representation_cosine`
    is None on architectures whose representation is not computed by shared parameters only."""

    step: int
    tasks: list[str]
    losses: dict[str, float]
    cosine: np.ndarray
    norms: dict[str, float]
    representation_cosine: np.ndarray | None

    def pairs(self, matrix: np.ndarray | None = None) -> np.ndarray:
        m = self.cosine if matrix is None else matrix
        i, j = np.triu_indices(len(self.tasks), k=1)
        return m[i, j]

    def to_dict(self) -> dict:
        rep = self.representation_cosine
        return {
            "step": self.step,
            "tasks": self.tasks,
            "losses": self.losses,
            "cosine": np.round(self.cosine, 6).tolist(),
            "norms": self.norms,
            "representation_cosine": None if rep is None else np.round(rep, 6).tolist(),
        }


def probe_batches(tasks: Mapping[str, EncodedTask], size: int, pad_id: int, seed: int) -> dict[str, Batch]:
    """A fixed sample of `size` training examples per task (the same rows for tasks that label the
    same sentences, which then share one forward pass)."""
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[int]] = {}
    keys: dict[str, int] = {}
    batches = {}
    for name, task in tasks.items():
        group = task.input_group
        key = name if group is None else f"group:{group}"
        if key not in chosen:
            n = len(task.train)
            chosen[key] = sorted(rng.choice(n, size=min(size, n), replace=False).tolist())
        batch = collate(task.train, chosen[key], pad_id)
        batch.input_key = None if group is None else keys.setdefault(group, len(keys))
        batches[name] = batch
    return batches


def _gram(rows: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
    """R Rᵀ in float64, a block of columns at a time (no float64 copy of a large Jacobian)."""
    gram = torch.zeros((rows.shape[0], rows.shape[0]), dtype=torch.float64, device=rows.device)
    for start in range(0, rows.shape[1], chunk):
        block = rows[:, start : start + chunk].double()
        gram += block @ block.T
    return gram.cpu()


def _groups(batches: Mapping[str, Batch]) -> list[list[str]]:
    """Tasks that share one forward pass (the same `input_key`), as `forward_batches` groups them."""
    groups: dict[object, list[str]] = {}
    for task, batch in batches.items():
        groups.setdefault(task if batch.input_key is None else ("shared", batch.input_key), []).append(task)
    return list(groups.values())


def probe(model: Architecture, batches: Mapping[str, Batch], step: int, device: torch.device | str = "cpu") -> Probe:
    """Per-task gradients on fixed batches: cosines and norms on the shared parameters, cosines on
    the shared representation (laid end to end: disjoint inputs give orthogonal rows there).

    One forward pass per group of tasks that share inputs, each released before the next, so the
    activations held are one group's, not every task's; the Jacobian is filled row by row in the
    parameters' precision and its Gram accumulated in float64."""
    was_training = model.training
    model.eval()
    names = list(batches)
    index = {t: k for k, t in enumerate(names)}
    shared = [p for p in model.shared_parameters() if p.requires_grad]
    dtype = shared[0].dtype if shared else torch.float32
    jac = torch.zeros((len(names), sum(p.numel() for p in shared)), dtype=dtype, device=device)
    rep_gram = torch.zeros((len(names), len(names)), dtype=torch.float64) if model.representation_is_shared else None
    losses: dict[str, float] = {}
    try:
        for group in _groups(batches):
            moved = {t: batches[t].to(device) for t in group}
            outputs = model.forward_batches(moved)
            group_losses = {}
            for t, b in moved.items():
                if b.labels is None:
                    raise ValueError(f"probe: the batch of task '{t}' has no labels")
                group_losses[t] = task_loss(model.specs[t].kind, outputs[t].logits, b.labels)
                losses[t] = float(group_losses[t].detach())
            for t, loss in group_losses.items():
                grads = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True, materialize_grads=True)
                offset = 0
                for g in grads:
                    jac[index[t], offset : offset + g.numel()] = g.reshape(-1)
                    offset += g.numel()
                del grads
            if rep_gram is not None:
                slots: dict[int, list[tuple[str, torch.Tensor]]] = {}  # one per representation tensor
                for t, loss in group_losses.items():
                    rep = outputs[t].representation
                    (g,) = torch.autograd.grad(
                        loss, [rep], retain_graph=True, allow_unused=True, materialize_grads=True
                    )
                    slots.setdefault(id(rep), []).append((t, g.reshape(-1).double().cpu()))
                for members in slots.values():  # tasks on different representations are orthogonal there
                    rows = torch.stack([g for _, g in members])
                    ids = torch.tensor([index[t] for t, _ in members])
                    rep_gram[ids[:, None], ids[None, :]] = rows @ rows.T
            del outputs, group_losses
    finally:
        model.train(was_training)
    gram = _gram(jac)
    del jac
    return Probe(
        step=step,
        tasks=names,
        losses={t: losses[t] for t in names},
        cosine=cosine_matrix(gram).numpy(),
        norms={t: float(n) for t, n in zip(names, gram.diagonal().clamp_min(0).sqrt().tolist())},
        representation_cosine=None if rep_gram is None else cosine_matrix(rep_gram).numpy(),
    )

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


def _cosine(rows: torch.Tensor) -> np.ndarray:
    return cosine_matrix(rows @ rows.T).numpy()


def probe(model: Architecture, batches: Mapping[str, Batch], step: int, device: torch.device | str = "cpu") -> Probe:
    """Per-task gradients on fixed batches: cosines and norms on the shared parameters, cosines on
    the shared representation (laid end to end: disjoint inputs give orthogonal rows there)."""
    was_training = model.training
    model.eval()
    try:
        moved = {t: b.to(device) for t, b in batches.items()}
        outputs = model.forward_batches(moved)
        losses = {}
        for t, b in moved.items():
            if b.labels is None:
                raise ValueError(f"probe: the batch of task '{t}' has no labels")
            losses[t] = task_loss(model.specs[t].kind, outputs[t].logits, b.labels)
        shared = [p for p in model.shared_parameters() if p.requires_grad]
        rows = []
        for loss in losses.values():
            grads = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True, materialize_grads=True)
            rows.append(torch.cat([g.reshape(-1) for g in grads]).detach())
        jac = torch.stack(rows).double()
        rep_cos = None
        if model.representation_is_shared:
            reps: list[torch.Tensor] = []
            slot = {}
            for t in losses:
                rep = outputs[t].representation
                found = next((i for i, r in enumerate(reps) if r is rep), None)
                if found is None:
                    reps.append(rep)
                    found = len(reps) - 1
                slot[t] = found
            sizes = [r.numel() for r in reps]
            offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
            rep_rows = torch.zeros((len(losses), int(offsets[-1])), dtype=torch.float64)
            for k, (t, loss) in enumerate(losses.items()):
                rep = reps[slot[t]]
                (g,) = torch.autograd.grad(loss, [rep], retain_graph=True, allow_unused=True, materialize_grads=True)
                rep_rows[k, offsets[slot[t]] : offsets[slot[t]] + rep.numel()] = g.reshape(-1).double().cpu()
            rep_cos = _cosine(rep_rows)
    finally:
        model.train(was_training)
    names = list(losses)
    return Probe(
        step=step,
        tasks=names,
        losses={t: float(v.detach()) for t, v in losses.items()},
        cosine=_cosine(jac),
        norms={t: float(n) for t, n in zip(names, jac.norm(dim=1).tolist())},
        representation_cosine=rep_cos,
    )

"""Shared pieces of the loss-weighting methods (UW, DWA, RLW, GLS, Tchebycheff, IMTL-L, FAMO, GradNorm).

- `stack_losses`: the step's losses as one vector (graph kept), in the order of the mapping.
- `TaskAdam`: Adam (Kingma & Ba 2015) on one scalar per task, with its moments kept as plain
  floats keyed by task name, so a method's learnable scalars (UW's log-variances, FAMO's
  logits, GradNorm's weights) survive `state_dict()` as JSON and tasks that are absent from a
  step (sampled subsets) are simply not updated. Each task keeps its own step count, so with
  every task present at every step it is exactly `torch.optim.Adam` on the K-vector (with
  `weight_decay` as Adam's coupled L2 term, as FAMO's official code and LibMTL use it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .base import StepContext

# Learnable log-scales (UW's s_k, IMTL-L's s_k) are kept in [-LOG_SCALE_BOUND, LOG_SCALE_BOUND]:
# e^30 ≈ 1e13 is far beyond any useful weight, and the bound keeps e^{±s}·ℓ finite when a loss
# collapses to exactly 0 (the optimum s = log ℓ is then -inf and s would drift forever).
LOG_SCALE_BOUND = 30.0


def stack_losses(losses: Mapping[str, torch.Tensor]) -> tuple[list[str], torch.Tensor]:
    """(task names, K-vector of the losses with their graph)."""
    if not losses:
        raise ValueError("no task losses")
    tasks = list(losses)
    return tasks, torch.stack([losses[t].reshape(()) for t in tasks])


def as_float(name: str, value: Any) -> float:
    """A finite float from a hyper-parameter value (numeric strings accepted: YAML reads `1e-3` as text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    out = as_float(name, value)
    if out < 0 or (out == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return out


class TaskAdam:
    """Adam on a dict of per-task scalars; the state is plain floats (JSON-serialisable)."""

    def __init__(
        self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0
    ) -> None:
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m: dict[str, float] = {}
        self.v: dict[str, float] = {}
        self.t: dict[str, int] = {}

    def step(self, values: Mapping[str, float], grads: Mapping[str, float]) -> dict[str, float]:
        """New values of the tasks in `grads` (one Adam step each); other tasks are untouched."""
        b1, b2 = self.betas
        out = dict(values)
        for task, g in grads.items():
            if not math.isfinite(g):  # never let a non-finite gradient poison the state
                continue
            x = values[task]
            g = g + self.weight_decay * x
            t = self.t.get(task, 0) + 1
            m = b1 * self.m.get(task, 0.0) + (1 - b1) * g
            v = b2 * self.v.get(task, 0.0) + (1 - b2) * g * g
            self.m[task], self.v[task], self.t[task] = m, v, t
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            out[task] = x - self.lr * m_hat / (math.sqrt(v_hat) + self.eps)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"m": dict(self.m), "v": dict(self.v), "t": dict(self.t)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.m = {k: float(x) for k, x in state.get("m", {}).items()}
        self.v = {k: float(x) for k, x in state.get("v", {}).items()}
        self.t = {k: int(x) for k, x in state.get("t", {}).items()}


def floats(state: Mapping[str, Any], key: str) -> dict[str, float]:
    return {k: float(x) for k, x in (state.get(key) or {}).items()}


def as_tensor(values: Iterable[float], like: torch.Tensor) -> torch.Tensor:
    """A vector on the device (and floating dtype) of `like`."""
    return torch.tensor(list(values), dtype=like.dtype, device=like.device)


class LearnedLogScale:
    """Per-task learnable log-scales s_k with L = Σ_k e^{σ s_k} ℓ_k − σ s_k (σ = `sign`).

    UW uses σ = −1 (s = log-variance), IMTL-L σ = +1 (s = log loss scale). ∂L/∂s_k =
    σ (e^{σ s_k} ℓ_k − 1) is formed analytically from the detached losses (exactly what autograd
    would give) and applied by a `TaskAdam` with its own learning rate right after the model
    gradients are written, so the weights used at step t are those before the update. The
    minimiser is e^{σ s_k} ℓ_k = 1: each weighted loss is driven towards 1.
    """

    sign: float = -1.0

    def _init_scales(self, init: float, s_lr: float) -> None:
        self.init, self.s_lr = as_float("init", init), positive("s_lr", s_lr)
        self.s: dict[str, float] = {}
        self._adam = TaskAdam(self.s_lr)

    def _scales(self, tasks: list[str], like: torch.Tensor) -> torch.Tensor:
        for t in tasks:
            self.s.setdefault(t, self.init)
        return as_tensor((self.s[t] for t in tasks), like)

    def objective(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Σ_k e^{σ s_k} ℓ_k − σ s_k at the current s (s treated as constants)."""
        tasks, vec = stack_losses(losses)
        s = self._scales(tasks, vec)
        return (torch.exp(self.sign * s) * vec - self.sign * s).sum()

    def _step(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> dict[str, float]:
        tasks, vec = stack_losses(losses)
        s = self._scales(tasks, vec)
        w = torch.exp(self.sign * s)
        ctx.backward((w * vec).sum())  # the −σ s_k term has no model gradient
        grad = self.sign * (w * vec.detach() - 1.0)
        weights = dict(zip(tasks, w.tolist()))
        new = self._adam.step(self.s, dict(zip(tasks, grad.tolist())))
        self.s = {t: min(max(x, -LOG_SCALE_BOUND), LOG_SCALE_BOUND) for t, x in new.items()}
        return weights

    def state_dict(self) -> dict[str, Any]:
        return {"s": dict(self.s), "adam": self._adam.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.s = floats(state, "s")
        self._adam.load_state_dict(state.get("adam", {}))

"""Dynamic weight average (DWA): Liu, Johns & Davison, "End-to-end multi-task learning with
attention", CVPR 2019, the DWA equation of §3 (Eq. 7 of the CVPR paper):

    w_k(t) = K exp(r_k(t−1)/T) / Σ_i exp(r_i(t−1)/T),    r_k(t−1) = L̄_k(t−1) / L̄_k(t−2),

with T = 2 and w_k = 1 until two averages exist. In the paper L̄_k(t) is task k's mean
training loss over epoch t. The trainer has no epoch callback, so an "epoch" here is a
*window* of `window` consecutive training steps: each task's losses are averaged over the
steps of the window in which it was present, and when a window closes its mean becomes the
newest L̄_k (two are kept). Set `window` to the run's steps per epoch to follow the paper
exactly; the default (100 steps) is a short epoch for the FDU-MTL-sized runs of this toolkit.

With sampled task subsets the softmax runs over the tasks present (so their weights sum to
their number); a task with fewer than two closed windows has r = 1.
L = Σ_k w_k ℓ_k with the w_k constants; one backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from ._loss_weighting import floats, positive
from ._weighted_sum import WeightsFromHistory
from .base import register

_EPS = 1e-12


@register
class DynamicWeightAverage(WeightsFromHistory):
    """DWA (Liu et al. 2019): w = K·softmax(r/T), r = ratio of the last two window-mean losses."""

    name = "dwa"

    def __init__(self, *, temperature: float = 2.0, window: int = 100) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be an integer >= 1, got {window!r}")
        self.temperature, self.window = positive("temperature", temperature), window
        self._sum: dict[str, float] = {}  # the open window
        self._count: dict[str, int] = {}
        self._steps = 0  # steps in the open window
        self._last: dict[str, float] = {}  # L̄(t−1)
        self._prev: dict[str, float] = {}  # L̄(t−2)

    def ratios(self, tasks: list[str]) -> list[float]:
        """r_k = L̄_k(t−1)/L̄_k(t−2), or 1 without two closed windows."""
        return [self._last[t] / max(self._prev[t], _EPS) if t in self._prev else 1.0 for t in tasks]

    def weights(self, tasks: list[str], like: torch.Tensor | None = None) -> torch.Tensor:
        # float64: a ratio of extreme losses (1e30 / 1e-30) overflows float32 to inf, and softmax(inf) is NaN
        r = torch.tensor(self.ratios(tasks), dtype=torch.float64)
        w = len(tasks) * torch.softmax(r / self.temperature, dim=0)
        return w if like is None else w.to(dtype=like.dtype, device=like.device)

    def observe(self, values: Mapping[str, float]) -> None:
        """Add one step's losses to the open window; close it after `window` steps."""
        for t, v in values.items():
            if not math.isfinite(v):
                continue
            self._sum[t] = self._sum.get(t, 0.0) + float(v)
            self._count[t] = self._count.get(t, 0) + 1
        self._steps += 1
        if self._steps >= self.window:
            for t, n in self._count.items():
                if t in self._last:
                    self._prev[t] = self._last[t]
                self._last[t] = self._sum[t] / n
            self._sum, self._count, self._steps = {}, {}, 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "sum": dict(self._sum),
            "count": dict(self._count),
            "steps": self._steps,
            "last": dict(self._last),
            "prev": dict(self._prev),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sum, self._last, self._prev = floats(state, "sum"), floats(state, "last"), floats(state, "prev")
        self._count = {k: int(v) for k, v in (state.get("count") or {}).items()}
        self._steps = int(state.get("steps", 0))

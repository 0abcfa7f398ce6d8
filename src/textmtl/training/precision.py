"""Mixed precision: bf16 / fp16 autocast of the forward pass, and the fp16 loss scale.

The loss scale works like `torch.amp.GradScaler` (Micikevicius et al. 2018, "Mixed Precision
Training", §3.2: dynamic loss scaling) but is applied at the task losses (`gradients.parts.`
LossView`), so the per-task gradients can be unscaled BEFORE a method combines them: Nash-MTL,
CAGrad and Aligned-MTL are not scale-invariant (anchors.md §3, TorchJD paper App. C), so a method
must never see s-scaled rows. Parameters stay in float32; only the forward runs in half precision.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "fp16"]


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """The forward-pass context of `precision` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


class LossScale:
    """Dynamic loss scale s: halved after a step whose gradients overflow (that step is skipped),
    doubled after `growth_interval` finite steps in a row. s stays a power of two, so scaling and
    unscaling are exact."""

    def __init__(self, init: float = 2.0**16, growth_interval: int = 2000, minimum: float = 1.0) -> None:
        self.scale, self.growth_interval, self.minimum = float(init), growth_interval, minimum
        self.good_steps = 0
        self.overflows = 0

    def update(self, found_inf: bool) -> None:
        if found_inf:
            self.scale = max(self.minimum, self.scale / 2)
            self.good_steps = 0
            self.overflows += 1
            return
        self.good_steps += 1
        if self.good_steps >= self.growth_interval:
            self.scale, self.good_steps = self.scale * 2, 0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "good_steps": self.good_steps, "overflows": self.overflows}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.good_steps = float(state["scale"]), int(state["good_steps"])
        self.overflows = int(state.get("overflows", 0))

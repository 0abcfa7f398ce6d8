"""Which tasks a training step draws a batch from (survey §3.3; Stickland & Murray 2019)."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..registry import samplers


class TaskSampler(ABC):
    """Chooses the tasks of each step. `probabilities(progress)` is exposed for tests and logs."""

    name: str
    draws_subsets = True  # False: every step takes every task (its probabilities say nothing)

    def __init__(self, sizes: Mapping[str, int], seed: int, tasks_per_step: int = 1) -> None:
        self.tasks = list(sizes)
        self.sizes = np.array([sizes[t] for t in self.tasks], dtype=np.float64)
        self.tasks_per_step = tasks_per_step
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def probabilities(self, progress: float) -> np.ndarray:
        """Task distribution at `progress` in [0, 1] of training."""

    def sample(self, progress: float) -> list[str]:
        p = self.probabilities(progress)
        k = min(self.tasks_per_step, len(self.tasks))
        picks = self.rng.choice(len(self.tasks), size=k, replace=False, p=p)
        return [self.tasks[i] for i in sorted(int(i) for i in picks)]

    def observe(self, losses: Mapping[str, float]) -> None:
        """The task losses of the step just taken (schedulers react to them; see data/schedulers.py)."""
        del losses

    def observe_evaluation(self, scores: Mapping[str, float]) -> None:
        """Each task's main dev metric (higher is better) at an evaluation."""
        del scores

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


@samplers.register("all")
class AllTasks(TaskSampler):
    """Every step takes one batch from every task (the multi-domain setting of FDU-MTL papers)."""

    name = "all"
    draws_subsets = False

    def probabilities(self, progress: float) -> np.ndarray:
        return np.full(len(self.tasks), 1.0 / len(self.tasks))

    def sample(self, progress: float) -> list[str]:
        return list(self.tasks)


@samplers.register("uniform")
class Uniform(TaskSampler):
    """p_t = 1/K."""

    name = "uniform"

    def probabilities(self, progress: float) -> np.ndarray:
        return np.full(len(self.tasks), 1.0 / len(self.tasks))


@samplers.register("temperature")
class Temperature(TaskSampler):
    """p_t ∝ n_t^(1/α) (survey §3.3): α = 1 is proportional, α → ∞ uniform."""

    name = "temperature"

    def __init__(self, sizes: Mapping[str, int], seed: int, tasks_per_step: int = 1, temperature: float = 2.0) -> None:
        super().__init__(sizes, seed, tasks_per_step)
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        self.temperature = temperature

    def probabilities(self, progress: float) -> np.ndarray:
        w = self.sizes ** (1.0 / self.temperature)
        return w / w.sum()


@samplers.register("proportional")
class Proportional(Temperature):
    """p_t ∝ n_t."""

    name = "proportional"

    def __init__(self, sizes: Mapping[str, int], seed: int, tasks_per_step: int = 1) -> None:
        super().__init__(sizes, seed, tasks_per_step, temperature=1.0)


@samplers.register("annealed")
class Annealed(TaskSampler):
    """Annealed sampling (Stickland & Murray 2019): p_t ∝ n_t^β, β = 1 − (1 − β_end)·progress.

    With β_end = 0.2 this is α(e) = 1 / (1 − 0.8 (e − 1)/(E − 1)) when progress = (e−1)/(E−1).
    """

    name = "annealed"

    def __init__(
        self, sizes: Mapping[str, int], seed: int, tasks_per_step: int = 1, final_exponent: float = 0.2
    ) -> None:
        super().__init__(sizes, seed, tasks_per_step)
        self.final_exponent = final_exponent

    def probabilities(self, progress: float) -> np.ndarray:
        beta = 1.0 - (1.0 - self.final_exponent) * min(max(progress, 0.0), 1.0)
        w = self.sizes**beta
        return w / w.sum()


#: Registered samplers by name (a read-only view of ``textmtl.registry.samplers``).
SAMPLERS = samplers.view()


def make_sampler(strategy: str, sizes: Mapping[str, int], seed: int, tasks_per_step: int = 1, **options) -> TaskSampler:
    return samplers.get(strategy)(sizes, seed, tasks_per_step, **options)


def sampler_from_config(cfg: Any, sizes: Mapping[str, int], seed: int) -> TaskSampler:
    """The sampler `cfg.strategy` (a `training.sampling` block); it takes the block's keys its
    constructor names (e.g. `temperature`), so a new sampler with a new setting needs no trainer change."""
    cls = samplers.get(cfg.strategy)
    accepted = inspect.signature(cls.__init__).parameters
    options = {
        k: v
        for k, v in cfg.model_dump().items()
        if k in accepted and k not in ("strategy", "sizes", "seed", "tasks_per_step")
    }
    return cls(sizes, seed, cfg.tasks_per_step, **options)

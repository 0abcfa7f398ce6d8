"""Which tasks a training step draws a batch from (survey §3.3; Stickland & Murray 2019)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

import numpy as np


class TaskSampler(ABC):
    """Chooses the tasks of each step. `probabilities(progress)` is exposed for tests and logs."""

    name: str

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

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]


class AllTasks(TaskSampler):
    """Every step takes one batch from every task (the multi-domain setting of FDU-MTL papers)."""

    name = "all"

    def probabilities(self, progress: float) -> np.ndarray:
        return np.full(len(self.tasks), 1.0 / len(self.tasks))

    def sample(self, progress: float) -> list[str]:
        return list(self.tasks)


class Uniform(TaskSampler):
    """p_t = 1/K."""

    name = "uniform"

    def probabilities(self, progress: float) -> np.ndarray:
        return np.full(len(self.tasks), 1.0 / len(self.tasks))


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


class Proportional(Temperature):
    """p_t ∝ n_t."""

    name = "proportional"

    def __init__(self, sizes: Mapping[str, int], seed: int, tasks_per_step: int = 1) -> None:
        super().__init__(sizes, seed, tasks_per_step, temperature=1.0)


class Annealed(TaskSampler):
    """Annealed sampling (Stickland & Murray 2019): p_t ∝ n_t^β, β = 1 − (1 − β_end)·progress.

    With β_end = 0.2 this is α(e) = 1 / (1 − 0.8 (e − 1)/(E − 1)) when progress = (e−1)/(E−1).
    """

    name = "annealed"

    def __init__(self, sizes: Mapping[str, int], seed: int, tasks_per_step: int = 1, final_exponent: float = 0.2) -> None:
        super().__init__(sizes, seed, tasks_per_step)
        self.final_exponent = final_exponent

    def probabilities(self, progress: float) -> np.ndarray:
        beta = 1.0 - (1.0 - self.final_exponent) * min(max(progress, 0.0), 1.0)
        w = self.sizes**beta
        return w / w.sum()


SAMPLERS: dict[str, type[TaskSampler]] = {
    cls.name: cls for cls in (AllTasks, Uniform, Proportional, Temperature, Annealed)
}


def make_sampler(strategy: str, sizes: Mapping[str, int], seed: int, tasks_per_step: int = 1, **options) -> TaskSampler:
    return SAMPLERS[strategy](sizes, seed, tasks_per_step, **options)

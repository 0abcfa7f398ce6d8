"""Task schedulers: samplers that react to training (survey §3.4, ../shared/reference/papers.md §4).

The trainer tells every sampler what happened: `observe(losses)` after each step (the task losses
of the step) and `observe_evaluation(scores)` after each dev evaluation (each task's main dev
metric, higher is better). The static samplers ignore both; these two use them. Their state is in
`state_dict`, so checkpoints resume them exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..registry import samplers
from .sampling import TaskSampler


@samplers.register("bandit")
class BanditScheduler(TaskSampler):
    """A bandit controller over tasks (Guo et al. 2018; survey §3.4): π(t) = softmax(Q_t / τ).

    Q starts at 0 (uniform). At each dev evaluation, every task drawn since the previous one
    (an arm pulled) gets the reward R_t = 100 x (its dev score now - at the previous evaluation),
    and Q_t <- (1 - α) Q_t + α R_t, the exponentially weighted reward of the survey's
    Q_{e,t} = (1-α)^e Q_{0,t} + Σ_k α(1-α)^{e-k} R_k. Reading of the issue's "dev-loss change":
    textmtl's evaluator computes metrics, not losses, so the reward is the change of the task's main
    dev metric (a fall in loss is a rise in score); documented as our choice.
    """

    name = "bandit"

    def __init__(
        self,
        sizes: Mapping[str, int],
        seed: int,
        tasks_per_step: int = 1,
        bandit_temperature: float = 1.0,
        bandit_alpha: float = 0.3,
    ) -> None:
        super().__init__(sizes, seed, tasks_per_step)
        if not bandit_temperature > 0:
            raise ValueError(f"bandit_temperature must be > 0, got {bandit_temperature!r}")
        if not 0 < bandit_alpha <= 1:
            raise ValueError(f"bandit_alpha must be in (0, 1], got {bandit_alpha!r}")
        self.temperature = float(bandit_temperature)
        self.alpha = float(bandit_alpha)
        self.q = np.zeros(len(self.tasks))
        self.pulled = np.zeros(len(self.tasks), dtype=bool)
        self.last_scores: dict[str, float] = {}

    def probabilities(self, progress: float) -> np.ndarray:
        z = self.q / self.temperature
        e = np.exp(z - z.max())
        return e / e.sum()

    def sample(self, progress: float) -> list[str]:
        picks = super().sample(progress)
        for t in picks:
            self.pulled[self.tasks.index(t)] = True
        return picks

    def observe_evaluation(self, scores: Mapping[str, float]) -> None:
        for i, task in enumerate(self.tasks):
            now = scores.get(task)
            if now is None or not np.isfinite(now):
                continue
            before = self.last_scores.get(task)
            if before is not None and self.pulled[i]:
                reward = 100.0 * (now - before)
                self.q[i] = (1 - self.alpha) * self.q[i] + self.alpha * reward
            self.last_scores[task] = float(now)
        self.pulled[:] = False

    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "q": self.q.tolist(),
            "pulled": self.pulled.tolist(),
            "last_scores": dict(self.last_scores),
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.q = np.array(state["q"], dtype=np.float64)
        self.pulled = np.array(state["pulled"], dtype=bool)
        self.last_scores = {k: float(v) for k, v in state["last_scores"].items()}


@samplers.register("worst_first")
class WorstFirst(TaskSampler):
    """Worst task first: each step draws the `tasks_per_step` tasks whose running training loss is
    highest relative to their first loss (r_t = l̄_t / l_t(first step)), ties broken at random.

    l̄_t is an exponential moving average (`worst_first_momentum`, default 0.9) of the losses of the
    steps in which t was drawn; a task never drawn yet has r_t = +inf, so every task is drawn once
    before any is drawn twice. `probabilities` puts 1/k on each of the k tasks the next step takes.
    """

    name = "worst_first"

    def __init__(
        self, sizes: Mapping[str, int], seed: int, tasks_per_step: int = 1, worst_first_momentum: float = 0.9
    ) -> None:
        super().__init__(sizes, seed, tasks_per_step)
        if not 0 <= worst_first_momentum < 1:
            raise ValueError(f"worst_first_momentum must be in [0, 1), got {worst_first_momentum!r}")
        self.momentum = float(worst_first_momentum)
        self.first: dict[str, float] = {}
        self.running: dict[str, float] = {}

    def ratios(self) -> np.ndarray:
        return np.array(
            [self.running[t] / max(self.first[t], 1e-12) if t in self.first else np.inf for t in self.tasks]
        )

    def _chosen(self) -> list[int]:
        k = min(self.tasks_per_step, len(self.tasks))
        r = self.ratios()
        tie_break = self.rng.random(len(self.tasks))
        order = sorted(range(len(self.tasks)), key=lambda i: (-r[i], tie_break[i]))
        return sorted(order[:k])

    def probabilities(self, progress: float) -> np.ndarray:
        state = self.rng.bit_generator.state
        chosen = self._chosen()
        self.rng.bit_generator.state = state  # looking does not draw
        p = np.zeros(len(self.tasks))
        p[chosen] = 1.0 / len(chosen)
        return p

    def sample(self, progress: float) -> list[str]:
        return [self.tasks[i] for i in self._chosen()]

    def observe(self, losses: Mapping[str, float]) -> None:
        for task, value in losses.items():
            if task not in self.running or not np.isfinite(value):
                if np.isfinite(value):
                    self.first.setdefault(task, float(value))
                    self.running[task] = float(value)
                continue
            self.running[task] = self.momentum * self.running[task] + (1 - self.momentum) * float(value)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "first": dict(self.first), "running": dict(self.running)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.first = {k: float(v) for k, v in state["first"].items()}
        self.running = {k: float(v) for k, v in state["running"].items()}

"""GradTS selection rules as pure functions over τ values (§2.4 of the spec).

- `thres`: every candidate with τ(main, t) ≥ threshold.
- `trial`: candidates sorted by τ (descending); train main + top-1, main + top-2, ... while the
  main task's dev score does not drop; the best trial is the selection. The main task alone is
  trial 0 (it is the reference of the first comparison and may itself be the best: an empty
  selection, as the official results have for WNLI).
- `fg`: the trial selection, each auxiliary task's training set cut to the instances whose
  instance-level τ ≥ an instance threshold.

Training is a callable `train_and_score(aux_tasks) -> main dev score`, so the rules can be
tested on hand-made values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_TASK_THRESHOLD = 0.6  # GradTS-thres: the scripts use 0.9 and 0.6, comments 0.57-0.69
DEFAULT_INSTANCE_THRESHOLD = 0.55  # GradTS-fg: the argparse default (README example: 0.62)


def rank_candidates(taus: Mapping[str, float]) -> list[str]:
    """Candidates by τ, highest first (ties: by name, so the order is reproducible)."""
    return sorted(taus, key=lambda t: (-taus[t], t))


def select_thres(taus: Mapping[str, float], threshold: float = DEFAULT_TASK_THRESHOLD) -> list[str]:
    return [t for t in rank_candidates(taus) if taus[t] >= threshold]


@dataclass
class Trial:
    aux: list[str]
    score: float


@dataclass
class TrialResult:
    selected: list[str]
    best_score: float
    trials: list[Trial] = field(default_factory=list)
    stopped_early: bool = False  # a trial's score dropped before the candidates ran out


def select_trial(
    taus: Mapping[str, float],
    train_and_score: Callable[[list[str]], float],
    *,
    include_main_only: bool = True,
    max_trials: int | None = None,
) -> TrialResult:
    """Greedy cumulative trials in τ order; continue while `score_now >= score_previous`.
    The best trial (ties: the smaller set) is selected."""
    order = rank_candidates(taus)
    if max_trials is not None:
        order = order[:max_trials]
    trials: list[Trial] = []
    if include_main_only:
        trials.append(Trial([], float(train_and_score([]))))
    stopped = False
    for k in range(1, len(order) + 1):
        trial = Trial(order[:k], float(train_and_score(order[:k])))
        trials.append(trial)
        if len(trials) > 1 and trial.score < trials[-2].score:
            stopped = k < len(order)
            break
    if not trials:
        return TrialResult([], float("nan"), [], False)
    best = max(trials, key=lambda t: (t.score, -len(t.aux)))  # first best: the smaller set on ties
    return TrialResult(list(best.aux), best.score, trials, stopped)


def select_fg(
    selected: Sequence[str], instance_taus: Mapping[str, np.ndarray], threshold: float = DEFAULT_INSTANCE_THRESHOLD
) -> dict[str, list[int]]:
    """For each task of the trial selection, the indices of its training instances with τ ≥ threshold."""
    return {t: [int(i) for i in np.flatnonzero(np.asarray(instance_taus[t]) >= threshold)] for t in selected}

"""What GradTS is compared with: the main task alone, all candidates, a random set of the same
size as GradTS's, and the exhaustive search over every subset of at most `max_size` candidates."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def random_same_size(candidates: Sequence[str], size: int, seed: int) -> list[str]:
    """A seeded random subset of `size` candidates, in the candidates' order."""
    if not 0 <= size <= len(candidates):
        raise ValueError(f"size {size} is not between 0 and {len(candidates)}")
    picked = set(random.Random(seed).sample(list(candidates), size))
    return [c for c in candidates if c in picked]


def subsets_up_to(candidates: Sequence[str], max_size: int) -> list[list[str]]:
    """Every subset of 1..max_size candidates (in the candidates' order), smallest first."""
    return [list(s) for k in range(1, max_size + 1) for s in itertools.combinations(candidates, k)]


@dataclass
class ExhaustiveResult:
    best: list[str]
    best_score: float
    scores: list[tuple[list[str], float]] = field(default_factory=list)
    seconds: float = 0.0  # wall time of this call (trainings served by earlier runs cost ~0 here)


def exhaustive(
    candidates: Sequence[str], train_and_score: Callable[[list[str]], float], max_size: int = 2
) -> ExhaustiveResult:
    """Train main + every subset of ≤ max_size candidates (and the main task alone); the best dev score wins
    (ties: the smaller set, then the earlier one)."""
    start = time.perf_counter()
    scores: list[tuple[list[str], float]] = [([], float(train_and_score([])))]
    scores += [(s, float(train_and_score(s))) for s in subsets_up_to(candidates, max_size)]
    best, best_score = max(scores, key=lambda p: (p[1], -len(p[0])))
    return ExhaustiveResult(best, best_score, scores, time.perf_counter() - start)

"""The aggregate numbers of a benchmark grid: mean ± std over seeds, Δm% against single-task
learning, and the mean rank of methods across tasks.

Every function works on plain mappings (`{task: value}` or `{method: {task: value}}`) of
*per-task means over seeds*, so it can be checked by hand; `grid_summary` feeds it from
`results.csv` rows.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping

import numpy as np

# Metric names for which a smaller value is better. Every metric textmtl computes today is
# higher-is-better (accuracy, F1, MCC, Pearson, ...); these are here for error-rate style tables.
LOWER_IS_BETTER_METRICS = frozenset({"error", "error_rate", "loss", "mse", "mae", "rmse", "perplexity", "wer", "cer"})

_TIE_DECIMALS = 12  # per-task means that agree to 12 decimals are ties (float noise is not a rank)


def is_lower_better(metric: str) -> bool:
    """True for metrics such as error rates or losses (see `LOWER_IS_BETTER_METRICS`)."""
    return metric.lower() in LOWER_IS_BETTER_METRICS


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and *sample* standard deviation (ddof = 1; 0.0 for a single value)."""
    v = [float(x) for x in values]
    if not v:
        raise ValueError("mean_std of no values")
    return float(np.mean(v)), (float(np.std(v, ddof=1)) if len(v) > 1 else 0.0)


def _lower(task: str, lower_is_better: Mapping[str, bool] | Collection[str]) -> bool:
    if isinstance(lower_is_better, Mapping):
        return bool(lower_is_better.get(task, False))
    return task in lower_is_better


def delta_m(
    scores: Mapping[str, float],
    reference: Mapping[str, float],
    lower_is_better: Mapping[str, bool] | Collection[str] = (),
) -> float:
    """Δm% of one method against a reference (single-task learning), in percent.

    Maninis, Radosavovic & Kokkinos (2019), "Attentive Single-Tasking of Multiple Tasks", CVPR;
    in the form used by Navon et al. (2022), "Multi-Task Learning as a Bargaining Game" (Nash-MTL):

        Δm = (1/K) Σ_k (−1)^{l_k} (M_m,k − M_b,k) / M_b,k × 100

    where M_m,k is the method's score on task k, M_b,k the reference's, and l_k = 1 if a lower
    value is better for task k's metric, else 0. Positive Δm means better than the reference
    on average. The sum runs over the tasks of `reference` (K of them); each must be in
    `scores`. The denominator is taken as |M_b,k|, so that the sign keeps its meaning for
    metrics that can be negative (MCC, Pearson); for the usual positive metrics this is the
    formula above. A reference score of 0 makes Δm undefined (ValueError).

    `lower_is_better`: the tasks whose metric is lower-is-better, as a set of task names or a
    `{task: bool}` mapping.
    """
    if not reference:
        raise ValueError("delta_m: the reference has no tasks")
    missing = [t for t in reference if t not in scores]
    if missing:
        raise ValueError(f"delta_m: no score for task(s) {', '.join(missing)}")
    total = 0.0
    for task, base in reference.items():
        if base == 0 or not math.isfinite(base):
            raise ValueError(f"delta_m: reference score of task {task!r} is {base}; Δm is undefined")
        sign = -1.0 if _lower(task, lower_is_better) else 1.0
        total += sign * (scores[task] - base) / abs(base)
    return 100.0 * total / len(reference)


def task_ranks(
    scores: Mapping[str, Mapping[str, float]], lower_is_better: Mapping[str, bool] | Collection[str] = ()
) -> dict[str, dict[str, float]]:
    """`{task: {method: rank}}`: for each task, methods ranked 1 = best; tied methods share the
    average of the ranks they span (fractional ranking, e.g. two methods tied for first both get
    1.5). Only tasks that every method has a score for are ranked.

    `scores` is `{method: {task: score}}`.
    """
    methods = list(scores)
    if not methods:
        return {}
    tasks = [t for t in scores[methods[0]] if all(t in scores[m] for m in methods)]
    out: dict[str, dict[str, float]] = {}
    for task in tasks:
        sign = 1.0 if _lower(task, lower_is_better) else -1.0  # sort ascending on sign * value
        keyed = sorted(methods, key=lambda m: sign * round(scores[m][task], _TIE_DECIMALS))
        ranks: dict[str, float] = {}
        i = 0
        while i < len(keyed):
            j = i
            value = round(scores[keyed[i]][task], _TIE_DECIMALS)
            while j + 1 < len(keyed) and round(scores[keyed[j + 1]][task], _TIE_DECIMALS) == value:
                j += 1
            for m in keyed[i : j + 1]:
                ranks[m] = (i + 1 + j + 1) / 2  # average of ranks i+1 .. j+1
            i = j + 1
        out[task] = ranks
    return out


def mean_rank(
    scores: Mapping[str, Mapping[str, float]], lower_is_better: Mapping[str, bool] | Collection[str] = ()
) -> dict[str, float]:
    """Mean rank of each method over tasks (1 = best on every task), from `task_ranks`.

    The usual summary of multi-task tables (e.g. Navon et al. 2022 report "MR", the mean rank,
    next to Δm%): for each task rank the methods, then average each method's ranks over the
    tasks. Returns NaN for every method if no task has a score from every method.
    """
    ranks = task_ranks(scores, lower_is_better)
    if not ranks:
        return {m: math.nan for m in scores}
    return {m: float(np.mean([r[m] for r in ranks.values()])) for m in scores}


__all__ = ["LOWER_IS_BETTER_METRICS", "is_lower_better", "mean_std", "delta_m", "task_ranks", "mean_rank"]

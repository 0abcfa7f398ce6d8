"""Is a method's difference to a reference method distinguishable from seed noise?

Paired comparisons: the runs of two methods are paired by seed (each seed fixes the data order and
the initial weights both methods start from), and optionally by seed x task. For the n paired
differences x_i = score(method) - score(reference):

    mean x̄,  s = sample std,  95% CI = x̄ ± t_{0.975, n-1} s / √n,  paired t-test p = 2 P(T_{n-1} > |x̄| √n / s)

(Student's t with n - 1 degrees of freedom). "not distinguishable" when the interval contains 0.
With n = 1 there is no interval. When every difference is the same non-zero number (s = 0: scores are
counts of correct examples, so two seeds that each gain one test example out of 6400 give exactly
equal differences), the t model has no spread to work with and would call any such difference
certain. Then there is no interval either, and the p-value is that of the exact sign-flip
(randomisation) test: the observed mean is the most extreme of the 2^n sign patterns on either side,
so p = 2 / 2^n (0.5 with 2 seeds, 0.25 with 3; below 5% from 6 seeds on). "Equal" allows for
round-off: s <= 1e-9 x the largest score (and a mean that small counts as 0).

Seed x task pairs are not independent (the tasks of one run share its encoder), so their interval is
narrower than it should be: it is reported beside the per-seed one, not instead of it.

A table compares many methods with one reference, and at the 5% level one in twenty comparisons
with no true difference comes out "distinguishable". `holm` adjusts the per-seed p-values for that
(Holm 1979, step-down: with p_(1) <= ... <= p_(m), p̃_(i) = max_{j<=i} min(1, (m - j + 1) p_(j))),
so that p̃ < 0.05 bounds the chance of any false verdict in the table at 5%; `multiplicity_note`
is the line under each table that says which verdicts survive it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["PairedDifference", "holm", "multiplicity_note", "paired_difference", "paired_rows"]


@dataclass(frozen=True)
class PairedDifference:
    n: int
    mean: float
    low: float  # `level` confidence interval (nan when n < 2 or when every difference is the same non-zero number)
    high: float
    p: float  # two-sided paired t-test (nan when n < 2; 1.0 when every difference is 0; sign-flip test when all equal)
    level: float = 0.95

    @property
    def equal_differences(self) -> bool:
        """Every difference is the same non-zero number: no t interval, the p-value is the sign-flip test's."""
        return self.n >= 2 and math.isnan(self.low)

    @property
    def distinguishable(self) -> bool:
        if self.n < 2:
            return False
        if self.equal_differences:
            return self.p < 1.0 - self.level
        return not (self.low <= 0.0 <= self.high)

    def cell(self, scale: float = 100.0, decimals: int = 2) -> str:
        """`+0.12 [−0.30, +0.54], p 0.52 (n 3)`, scores × `scale`; `–` when there is nothing to pair."""
        if self.n == 0:
            return "-"
        mean = f"{scale * self.mean:+.{decimals}f}"
        if self.n < 2:
            return f"{mean} (n 1: no interval)"
        if self.equal_differences:
            return f"{mean} (all {self.n} equal: no interval), sign-flip p {self.p:.2g} (n {self.n})"
        return (
            f"{mean} [{scale * self.low:+.{decimals}f}, {scale * self.high:+.{decimals}f}], p {self.p:.2g} (n {self.n})"
        )


def paired_difference(values: Sequence[float], reference: Sequence[float], level: float = 0.95) -> PairedDifference:
    """Mean, `level` confidence interval (Student's t) and paired t-test of values - reference; the
    sign-flip test and no interval when every difference is the same non-zero number (module docstring)."""
    x = np.asarray(values, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    n = len(x)
    if n == 0:
        return PairedDifference(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return PairedDifference(1, mean, math.nan, math.nan, math.nan)
    sd = float(x.std(ddof=1))
    scale = max(float(np.abs(values).max(initial=0.0)), float(np.abs(reference).max(initial=0.0)))
    if sd <= 1e-9 * scale:
        if abs(mean) <= 1e-9 * scale:
            return PairedDifference(n, 0.0, 0.0, 0.0, 1.0, level)
        return PairedDifference(n, mean, math.nan, math.nan, min(1.0, 2.0 ** (1 - n)), level)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    t = mean / (sd / math.sqrt(n))
    p = float(2 * stats.t.sf(abs(t), n - 1))
    return PairedDifference(n, mean, mean - half, mean + half, p, level)


def paired_rows(
    runs: Mapping[str, Mapping[int, Mapping[str, float]]],
    reference: str,
    tasks: Sequence[str],
    lower: Mapping[str, bool],
) -> dict[str, tuple[PairedDifference, PairedDifference]]:
    """For every method but `reference`: (difference of the task averages paired by seed, difference
    paired by seed x task). `runs[method][seed][task]` is a test score; a lower-is-better task enters
    with its sign flipped, so a positive difference always means better than the reference."""
    ref = runs.get(reference, {})
    out = {}
    sign = {t: -1.0 if lower.get(t) else 1.0 for t in tasks}
    for method, by_seed in runs.items():
        if method == reference:
            continue
        seeds = sorted(s for s in by_seed if s in ref and set(by_seed[s]) >= set(tasks) and set(ref[s]) >= set(tasks))
        per_seed = paired_difference(
            [sum(sign[t] * by_seed[s][t] for t in tasks) / len(tasks) for s in seeds],
            [sum(sign[t] * ref[s][t] for t in tasks) / len(tasks) for s in seeds],
        )
        per_task = paired_difference(
            [sign[t] * by_seed[s][t] for s in seeds for t in tasks], [sign[t] * ref[s][t] for s in seeds for t in tasks]
        )
        out[method] = (per_seed, per_task)
    return out


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values (module docstring) of the finite ones; NaN p-values (fewer
    than two pairs) are not comparisons and are left out of the count m."""
    finite = sorted((p, name) for name, p in p_values.items() if not math.isnan(p))
    m, running, out = len(finite), 0.0, {}
    for i, (p, name) in enumerate(finite):
        running = max(running, min(1.0, (m - i) * p))
        out[name] = running
    return out


def multiplicity_note(per_seed: Mapping[str, PairedDifference], level: float = 0.05) -> str:
    """One line: which per-seed verdicts hold after Holm's correction over the table's comparisons."""
    adjusted = holm({name: d.p for name, d in per_seed.items()})
    if len(adjusted) < 2:
        return ""
    kept = [f"{name} ({'better' if per_seed[name].mean > 0 else 'worse'}, p̃ {p:.2g})"
            for name, p in adjusted.items() if p < level]  # fmt: skip
    lost = [name for name, p in adjusted.items() if p >= level and per_seed[name].distinguishable]
    text = f"After Holm's correction for the {len(adjusted)} comparisons (family-wise {100 * level:.0f}%): "
    text += ("distinguishable: " + ", ".join(kept)) if kept else "none is distinguishable"
    if lost:
        text += f"; no longer distinguishable: {', '.join(lost)}"
    return text + "."

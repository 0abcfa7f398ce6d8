"""Paired differences with confidence intervals (reporting.significance), checked against hand-computed
values and scipy, and the tables that carry them (summary.md, `textmtl summarize`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from textmtl.reporting.grid_summary import SummaryContext, render_summary
from textmtl.reporting.significance import holm, multiplicity_note, paired_difference, paired_rows


def test_hand_computed_three_seeds():
    # differences 0.01, 0.02, 0.03: mean 0.02, s = 0.01, t_{0.975, 2} = 4.302653, half = 0.024841
    d = paired_difference([0.81, 0.82, 0.83], [0.80, 0.80, 0.80])
    assert d.n == 3 and d.mean == pytest.approx(0.02)
    assert d.low == pytest.approx(0.02 - 4.302653 * 0.01 / math.sqrt(3), abs=1e-6)
    assert d.high == pytest.approx(0.02 + 4.302653 * 0.01 / math.sqrt(3), abs=1e-6)
    assert d.p == pytest.approx(0.0742, abs=1e-4)  # t = 3.4641 with 2 degrees of freedom
    assert not d.distinguishable  # the interval [-0.0048, 0.0448] contains 0
    assert d.cell() == "+2.00 [-0.48, +4.48], p 0.074 (n 3)"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=12))
def test_agrees_with_scipy(pairs):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    d = paired_difference(a, b)
    diff = np.subtract(a, b)
    if np.std(diff, ddof=1) <= 1e-9 * max(max(a), max(b)):
        assert d.n == len(diff) and (d.p == 1.0 or d.equal_differences)  # test_equal_differences
        return
    ref = stats.ttest_rel(a, b)
    assert d.p == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-12)
    low, high = stats.t.interval(0.95, len(diff) - 1, loc=diff.mean(), scale=stats.sem(diff))
    assert (d.low, d.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert d.distinguishable == (not low <= 0 <= high)


def test_degenerate_sizes():
    assert paired_difference([], []).cell() == "-"
    one = paired_difference([0.9], [0.8])
    assert one.n == 1 and not one.distinguishable and "no interval" in one.cell()
    same = paired_difference([0.5, 0.6], [0.5, 0.6])
    assert same.mean == 0 and same.p == 1.0 and not same.distinguishable


def test_equal_differences_get_the_sign_flip_test_not_certainty():
    # Two seeds that each gain exactly one test example of 6400 (FDU-MTL-16's 16 x 400): the t-test
    # has s = 0 and would call +0.016 points certain (it did: "p 0, better" in the MiniLM grid).
    ref = [0.823906, 0.828046]
    d = paired_difference([r + 1 / 6400 for r in ref], ref)
    assert d.equal_differences and math.isnan(d.low) and math.isnan(d.high)
    assert d.p == pytest.approx(0.5) and not d.distinguishable
    assert d.cell() == "+0.02 (all 2 equal: no interval), sign-flip p 0.5 (n 2)"
    # Round-off does not bring the t-test back: these differences differ by ~1e-17.
    ref3 = [0.1 + 0.2, 0.7, 0.3]
    d3 = paired_difference([r + 0.05 for r in ref3], ref3)
    assert d3.equal_differences and d3.p == pytest.approx(0.25) and not d3.distinguishable
    # Six equal differences: 2 / 2^6 = 0.03125 < 0.05, distinguishable; five: 0.0625, not.
    assert paired_difference([0.9] * 6, [0.8] * 6).distinguishable
    assert not paired_difference([0.9] * 5, [0.8] * 5).distinguishable
    # A difference of round-off size around 0 is no difference.
    zero = paired_difference([0.1 + 0.2, 0.3], [0.3, 0.3])
    assert zero.mean == 0 and zero.p == 1.0 and not zero.distinguishable


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 10), st.sampled_from([-0.03, -1 / 6400, 1 / 6400, 0.2]))
def test_sign_flip_p_is_the_share_of_sign_patterns_at_least_as_extreme(n, step):
    d = paired_difference([0.5 + step] * n, [0.5] * n)
    x = np.full(n, step)
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * n)).reshape(n, -1).T  # all 2^n patterns
    extreme = np.mean(np.abs((signs * x).mean(axis=1)) >= abs(x.mean()) - 1e-15)
    assert d.p == pytest.approx(extreme)


def test_pairs_by_seed_and_flips_lower_is_better_tasks():
    runs = {"ls": {1: {"a": 0.8, "err": 0.30}, 2: {"a": 0.7, "err": 0.40}, 3: {"a": 0.9, "err": 0.2}},
            "m": {1: {"a": 0.9, "err": 0.20}, 2: {"a": 0.8, "err": 0.30}, 4: {"a": 0.1, "err": 0.9}}}
    per_seed, per_task = paired_rows(runs, "ls", ["a", "err"], {"a": False, "err": True})["m"]
    assert per_seed.n == 2 and per_task.n == 4  # seed 3 and seed 4 have no partner
    assert per_seed.mean == pytest.approx(0.1)  # +0.1 on a, and an error 0.1 lower counts as +0.1
    assert per_task.mean == pytest.approx(0.1)


def test_summary_md_has_the_paired_differences():
    rows = []
    for method, shift in (("ls", 0.0), ("better", 0.05), ("same", 0.0)):
        for seed, noise in ((1, 0.0), (2, 0.01), (3, -0.01)):
            for task in ("x", "y"):
                spread = seed / 1000 if method == "better" else 0.0  # equal differences would get the sign-flip test
                score = 0.7 + shift + (noise if method != "same" else -noise) + spread
                rows.append({"variant": "default", "method": method, "seed": seed, "task": task,
                             "metric": "accuracy", "test": score, "wall_seconds": 1.0})
    text = render_summary(rows, SummaryContext("toy", ["ls", "better", "same"], ["default"]))
    assert "Paired differences to `ls`" in text
    better = next(line for line in text.splitlines() if line.startswith("| better |"))
    same = next(line for line in text.splitlines() if line.startswith("| same |"))
    assert better.endswith("| better |") and "+5.20 [+4.95, +5.45]" in better
    assert same.endswith("| not distinguishable |")
    assert "| ls |" not in text.split("Paired differences")[1]  # the baseline is not compared with itself
    assert "After Holm's correction for the 2 comparisons (family-wise 5%): distinguishable: better (better" in text


def test_holm_hand_computed():
    # sorted: a 0.01 -> 3 x 0.01 = 0.03; c 0.03 -> 2 x 0.03 = 0.06; b 0.04 -> 1 x 0.04, raised to 0.06
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert holm({"a": 0.5, "b": math.nan}) == {"a": 0.5}  # no interval, no comparison
    assert holm({"a": 0.4, "b": 0.9}) == pytest.approx({"a": 0.8, "b": 0.9})
    assert holm({}) == {}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=15), st.floats(0.001, 0.2))
def test_holm_is_the_step_down_procedure(ps, alpha):
    """p̃ <= alpha exactly for the hypotheses Holm's sequential procedure rejects at alpha: walk the
    p-values upwards, reject while p_(j) <= alpha / (m - j + 1), stop at the first that is not."""
    named = {f"m{i}": p for i, p in enumerate(ps)}
    adjusted = holm(named)
    assert set(adjusted) == set(named)
    assert all(named[k] - 1e-15 <= adjusted[k] <= 1.0 for k in named)
    order = sorted(named, key=lambda k: (named[k], k))
    assert all(adjusted[a] <= adjusted[b] for a, b in zip(order, order[1:], strict=False))  # monotone
    rejected, m = set(), len(ps)
    for j, k in enumerate(order):
        if named[k] > alpha / (m - j):
            break
        rejected.add(k)
    slack = 1e-12  # (m - j) * p against alpha: equal up to rounding on the boundary
    assert {k for k, p in adjusted.items() if p <= alpha - slack} <= rejected
    assert rejected <= {k for k, p in adjusted.items() if p <= alpha + slack}


def test_the_multiplicity_note_says_which_verdicts_survive():
    three = [0.80, 0.81, 0.79]
    rows = {
        "clear": paired_difference([0.90, 0.91, 0.89 + 1e-3], three),  # p ~ 1e-4: survives 3 comparisons
        "marginal": paired_difference([0.82, 0.837, 0.803], three),  # p 0.039 alone; x 2 after the correction
        "noise": paired_difference([0.81, 0.80, 0.80], three),
    }
    assert rows["marginal"].distinguishable and rows["marginal"].p > 0.05 / 3
    note = multiplicity_note(rows)
    assert note.startswith("After Holm's correction for the 3 comparisons (family-wise 5%): distinguishable: clear")
    assert note.endswith("no longer distinguishable: marginal.")
    assert multiplicity_note({"only": rows["clear"]}) == ""  # one comparison: nothing to correct

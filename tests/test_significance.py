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
from textmtl.reporting.significance import paired_difference, paired_rows


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
    if np.std(diff, ddof=1) == 0:
        assert d.low == d.high == d.mean
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
                score = 0.7 + shift + (noise if method != "same" else -noise)
                rows.append({"variant": "default", "method": method, "seed": seed, "task": task,
                             "metric": "accuracy", "test": score, "wall_seconds": 1.0})
    text = render_summary(rows, SummaryContext("toy", ["ls", "better", "same"], ["default"]))
    assert "Paired differences to `ls`" in text
    better = next(line for line in text.splitlines() if line.startswith("| better |"))
    same = next(line for line in text.splitlines() if line.startswith("| same |"))
    assert better.endswith("| better |") and "+5.00 [+5.00, +5.00]" in better
    assert same.endswith("| not distinguishable |")
    assert "| ls |" not in text.split("Paired differences")[1]  # the baseline is not compared with itself

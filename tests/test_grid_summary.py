"""The summary maths of benchmark grids (Δm%, mean rank) against hand-computed values, and summary.md."""

from __future__ import annotations

import math
import re

import pytest

from textmtl.reporting.grid_metrics import delta_m, is_lower_better, mean_rank, mean_std, task_ranks
from textmtl.reporting.grid_summary import PublishedColumns, SummaryContext, render_summary
from textmtl.reporting.published import load_published


def test_delta_m_by_hand():
    ref = {"t1": 0.5, "t2": 0.75}
    ours = {"t1": 0.8, "t2": 0.6}
    # ((0.8 - 0.5) / 0.5 + (0.6 - 0.75) / 0.75) / 2 * 100 = (0.6 - 0.2) / 2 * 100
    assert delta_m(ours, ref) == pytest.approx(20.0)
    # t2 lower-is-better (an error rate): its term changes sign, (0.6 + 0.2) / 2 * 100
    assert delta_m(ours, ref, {"t2"}) == pytest.approx(40.0)
    assert delta_m(ours, ref, {"t1": False, "t2": True}) == pytest.approx(40.0)
    assert delta_m(ref, ref) == 0.0
    # only the reference's tasks count; extra tasks of the method are ignored
    assert delta_m({**ours, "t3": 0.1}, ref) == pytest.approx(20.0)
    # a negative reference (MCC): the denominator is |M_stl|, so better still means positive
    assert delta_m({"cola": 0.1}, {"cola": -0.1}) == pytest.approx(200.0)
    with pytest.raises(ValueError, match="undefined"):
        delta_m({"t": 0.3}, {"t": 0.0})
    with pytest.raises(ValueError, match="no score"):
        delta_m({"t1": 0.3}, ref)


def test_error_rates_and_accuracies_give_the_same_sign():
    # 20% error -> 15% error is an improvement, just like 80% -> 85% accuracy
    assert delta_m({"t": 15.0}, {"t": 20.0}, {"t"}) == pytest.approx(25.0)
    assert delta_m({"t": 0.85}, {"t": 0.80}) == pytest.approx(6.25)
    assert is_lower_better("error_rate") and not is_lower_better("accuracy") and not is_lower_better("mcc")


def test_mean_rank_with_ties_by_hand():
    scores = {
        "a": {"t1": 0.9, "t2": 0.5, "t3": 0.7},
        "b": {"t1": 0.8, "t2": 0.5, "t3": 0.9},
        "c": {"t1": 0.7, "t2": 0.6, "t3": 0.9},
    }
    ranks = task_ranks(scores)
    assert ranks["t1"] == {"a": 1, "b": 2, "c": 3}
    assert ranks["t2"] == {"c": 1, "a": 2.5, "b": 2.5}  # a and b tie for 2nd and 3rd
    assert ranks["t3"] == {"b": 1.5, "c": 1.5, "a": 3}
    mr = mean_rank(scores)
    assert mr["a"] == pytest.approx(6.5 / 3) and mr["b"] == pytest.approx(2.0) and mr["c"] == pytest.approx(5.5 / 3)
    # t1 lower-is-better: its ranks reverse
    mr = mean_rank(scores, {"t1"})
    assert mr["a"] == pytest.approx(8.5 / 3) and mr["b"] == pytest.approx(2.0) and mr["c"] == pytest.approx(3.5 / 3)
    # float noise is not a rank: means that differ in the 17th digit tie
    noisy = {"x": {"t": 0.1 + 0.2}, "y": {"t": 0.3}}
    assert task_ranks(noisy)["t"] == {"x": 1.5, "y": 1.5}
    # tasks without a score from every method are not ranked
    assert set(task_ranks({"x": {"t": 1.0, "u": 1.0}, "y": {"t": 0.5}})) == {"t"}


def test_mean_std_is_sample_std():
    assert mean_std([0.8, 0.84]) == pytest.approx((0.82, 0.028284271), rel=1e-6)
    assert mean_std([0.7]) == (0.7, 0.0)


def rows_for(method, seed, scores, wall=30.0, metric="accuracy", variant="default"):
    return [{"suite": "s", "variant": variant, "method": method, "seed": seed, "task": t, "metric": metric,
             "dev": math.nan, "test": v, "wall_seconds": wall, "steps": 10, "run_dir": f"runs/{method}-s{seed}"}
            for t, v in scores.items()]


def context(methods, **kw):
    planned = {("default", m): [1, 2] for m in methods}
    return SummaryContext("s", methods, ["default"], planned=planned, header={"command": "`x`"}, **kw)


def test_summary_table_by_hand():
    rows = (rows_for("stl", 1, {"a": 0.50, "b": 0.80}, wall=60) + rows_for("stl", 2, {"a": 0.50, "b": 0.70}, wall=120)
            + rows_for("ls", 1, {"a": 0.60, "b": 0.75}) + rows_for("ls", 2, {"a": 0.70, "b": 0.75}))
    md = render_summary(rows, context(["stl", "ls"]))
    assert "| task | stl (ours, n=2) | ls (ours, n=2) |" in md
    assert "| a | 50.00 ± 0.00 | 65.00 ± 7.07 |" in md
    # per-seed averages: stl 0.65, 0.60 -> 62.50 ± 3.54; ls 0.675, 0.725 -> 70.00 ± 3.54
    assert "| **average** | **62.50 ± 3.54** | **70.00 ± 3.54** |" in md
    # Δm% of ls: ((0.65 - 0.5) / 0.5 + (0.75 - 0.75) / 0.75) / 2 * 100 = 15
    assert "| Δm% vs stl | +0.00 | +15.00 |" in md
    # ranks: a: ls 1, stl 2; b: tie 1.5 / 1.5 -> stl 1.75, ls 1.25
    assert "| mean rank | 1.75 | 1.25 |" in md
    assert "| wall time per run | 1.5 min | 30 s |" in md


def test_summary_without_stl_omits_delta_m_with_a_note():
    rows = rows_for("ls", 1, {"a": 0.6}) + rows_for("pcgrad", 1, {"a": 0.7})
    md = render_summary(rows, context(["stl", "ls", "pcgrad"]))
    assert "Δm% vs" not in md
    assert "Δm% is omitted: no finished `stl`" in md
    assert "| a | 60.00 | 70.00 |" in md  # n = 1: the mean alone
    assert "stl 0/2" in md  # missing runs are listed


def test_summary_lower_is_better_metric():
    rows = rows_for("stl", 1, {"a": 0.20}, metric="error_rate") + rows_for("ls", 1, {"a": 0.15}, metric="error_rate")
    md = render_summary(rows, context(["stl", "ls"]))
    assert "| Δm% vs stl | +0.00 | +25.00 |" in md
    assert "| mean rank | 2.00 | 1.00 |" in md
    assert "a (error_rate, lower is better)" in md


def test_summary_published_columns_and_inconsistent_average():
    table = load_published("getmtl_table3")
    tasks = list(table.rows)
    stl = {t: 0.85 for t in tasks}
    rows = rows_for("stl", 1, stl) + rows_for("ls", 1, {t: 0.88 for t in tasks})
    pub = PublishedColumns("getmtl_table3", {"stl": "STL", "ls": "Uniform"}, ["BanditMTL"])
    md = render_summary(rows, context(["stl", "ls"], published=[pub]))
    assert "Uniform (published, GetMTL Table 3)" in md and "BanditMTL (published, GetMTL Table 3)" in md
    assert "| apparel | 85.00 | 88.00 | 87.57 | 89.18 | 88.95 |" in md
    # the printed Avg (88.47) and the mean of the paper's rows (89.57) are both shown, with a footnote
    avg = next(line for line in md.splitlines() if line.startswith("| **average**"))
    assert "88.47 / 89.57¹" in avg and "86.52 / 87.65¹" in avg
    assert re.search(r"¹ GetMTL Table 3: the printed average .* is not the mean", md)
    # Δm% of the published Uniform column against the paper's own STL column, footnoted
    uniform = load_published("getmtl_table3").accuracy("Uniform")
    base = load_published("getmtl_table3").accuracy("STL")
    expected = delta_m(uniform, base)
    dm = next(line for line in md.splitlines() if line.startswith("| Δm% vs stl"))
    assert f"{expected:+.2f}²" in dm


def test_summary_published_average_over_a_subset_of_tasks():
    rows = rows_for("ls", 1, {"books": 0.8, "dvd": 0.8, "MR": 0.7})
    pub = PublishedColumns("asp_mtl_table2", {"ls": "FS-MTL"})
    md = render_summary(rows, context(["ls"], published=[pub]))
    avg = next(line for line in md.splitlines() if line.startswith("| **average**"))
    # mean of FS-MTL's books / dvd / MR accuracies: (82.5 + 83.5 + 74.7) / 3 = 80.2
    assert "80.2¹" in avg
    assert "printed averages over its 16 tasks: FS-MTL 84.7" in md

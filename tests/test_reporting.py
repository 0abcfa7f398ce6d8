import json

import pytest

from textmtl.reporting.published import load_published
from textmtl.reporting.summary import markdown_table, summarize


def fake_run(path, seed, a, b, wall=60.0):
    path.mkdir()
    metrics = {"method": "ls", "seed": seed, "steps": 1, "wall_seconds": wall,
               "tasks": {"books": {"dev": {"accuracy": a}, "test": {"accuracy": a}},
                         "MR": {"dev": {"accuracy": b}, "test": {"accuracy": b}}},
               "average": {"dev": (a + b) / 2, "test": (a + b) / 2}}
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def test_summary_mean_and_sample_std(tmp_path):
    runs = [fake_run(tmp_path / "s1", 1, 0.80, 0.70), fake_run(tmp_path / "s2", 2, 0.84, 0.74)]
    s = summarize("ls", runs)
    assert s.per_task["books"] == pytest.approx((0.82, 0.028284271), rel=1e-6)  # std with ddof=1
    assert s.average == pytest.approx((0.77, 0.028284271), rel=1e-6)
    assert s.seeds == [1, 2] and s.wall_seconds == 60.0


def test_published_asp_mtl_table_matches_the_paper():
    t = load_published("asp_mtl_table2")
    assert t.accuracy("ASP-MTL")["books"] == pytest.approx(0.84)
    assert t.reported_average_accuracy("ASP-MTL") == pytest.approx(0.861)
    assert t.reported_average_accuracy("FS-MTL") == pytest.approx(0.847)
    assert len(t.rows) == 16
    # the paper's averages are consistent with its rows (papers.md §6.4)
    for col in ("FS-MTL", "SP-MTL", "ASP-MTL"):
        mean_acc = sum(t.accuracy(col).values()) / 16
        assert mean_acc == pytest.approx(t.reported_average_accuracy(col), abs=0.001)


def test_markdown_table_labels_published_columns(tmp_path):
    s = summarize("ls", [fake_run(tmp_path / "s1", 1, 0.8, 0.7)])
    md = markdown_table([s], load_published("asp_mtl_table2"), ("ASP-MTL",))
    assert "ASP-MTL (published)" in md and "| books | 80.0 ± 0.0 | 84.0 |" in md and "**86.1**" in md

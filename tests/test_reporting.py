import json
import re
from pathlib import Path

import pytest

from textmtl.errors import DataError
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


def tagging_run(path, seed, pos, ner, main_metrics=True):
    path.mkdir()
    metrics = {"method": "ls", "seed": seed, "steps": 1, "wall_seconds": 60.0,
               "tasks": {"pos": {"dev": {}, "test": {"token_accuracy": pos}},
                         "ner": {"dev": {}, "test": {"entity_f1": ner, "token_accuracy": 0.99}}},
               "average": {"dev": 0.0, "test": (pos + ner) / 2}}
    if main_metrics:
        metrics["main_metrics"] = {"pos": "token_accuracy", "ner": "entity_f1"}
    else:  # a run written before metrics.json named them: model.json's task specs do
        (path / "model.json").write_text(json.dumps({"tasks": [
            {"name": "pos", "kind": "tagging", "labels": [], "metrics": ["token_accuracy"]},
            {"name": "ner", "kind": "tagging", "labels": [], "metrics": ["entity_f1", "token_accuracy"]}]}))
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def test_summary_tabulates_each_tasks_main_metric_and_names_it(tmp_path):
    s = summarize("ls", [tagging_run(tmp_path / "s1", 1, 0.90, 0.70),
                         tagging_run(tmp_path / "s2", 2, 0.92, 0.80, main_metrics=False)])
    assert s.metrics == {"pos": "token_accuracy", "ner": "entity_f1"}
    assert s.per_task["ner"][0] == pytest.approx(0.75)  # entity F1, not the 0.99 token accuracy
    md = markdown_table([s])
    assert "| ner (entity_f1) | 75.0 ± 7.1 |" in md and "| pos (token_accuracy) | 91.0 ± 1.4 |" in md


def test_summary_of_a_metric_some_tasks_lack_keeps_their_main_metric(tmp_path):
    run = tagging_run(tmp_path / "s1", 1, 0.90, 0.70)
    group = summarize("ls", [run], metric="entity_f1")  # pos has no entity F1: its token accuracy
    assert group.metrics == {"pos": "token_accuracy", "ner": "entity_f1"}
    assert group.per_task["pos"][0] == pytest.approx(0.90) and group.per_task["ner"][0] == pytest.approx(0.70)
    with pytest.raises(DataError, match=r"s1/metrics.json: no task of group 'ls' has a test metric 'pearson'"):
        summarize("ls", [run], metric="pearson")


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


# ------------------------------------------------------------------ published tables vs papers.md

PAPERS_MD = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "papers.md"


def markdown_table_after(text: str, heading: str) -> dict[str, list[str]]:
    """The first Markdown table after `heading`: {first cell: other cells}, header row under key ''."""
    start = text.index(heading)
    rows: dict[str, list[str]] = {}
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]
        if set(cells[0]) <= {"-"}:
            continue
        rows["" if not rows else cells[0]] = cells[1:] if rows else cells
    return rows


def number(cell: str) -> float:
    return float(re.match(r"[-\d.]+", cell).group(0))  # "17.8 (−1.4)" -> 17.8


@pytest.mark.parametrize("name, heading", [
    ("getmtl_table3", "**Table 3: Amazon Review (14 tasks)**"),
    ("getmtl_table2", "**Table 2: Topic classification (4 tasks)**"),
    ("asp_mtl_table2", "### 6.4 Main results"),
])
def test_published_json_equals_papers_md(name, heading):
    if not PAPERS_MD.is_file():
        pytest.skip(f"no {PAPERS_MD}")
    table = markdown_table_after(PAPERS_MD.read_text(encoding="utf-8"), heading)
    header = table.pop("")
    data = json.loads((Path(__file__).resolve().parents[1] / "src" / "textmtl" / "resources" / "published"
                       / f"{name}.json").read_text())
    assert len(header) - 1 == len(data["columns"])  # the paper's column names (ASP-MTL: "Avg." = single-task avg)
    average_row = next(k for k in table if k.lower() in ("avg", "average"))
    assert [number(c) for c in table.pop(average_row)] == data["reported_average"]
    paper_names = {paper: ours for ours, paper in data["task_names"].items()}
    assert set(table) == set(paper_names)
    for paper_task, cells in table.items():
        assert [number(c) for c in cells] == data["rows"][paper_names[paper_task]], paper_task


def test_getmtl_table3_average_is_not_the_row_mean():
    t = load_published("getmtl_table3")
    assert t.label == "GetMTL Table 3" and t.decimals == 2 and len(t.rows) == 14
    assert t.row_mean_accuracy("GetMTL") == pytest.approx(0.9066, abs=1e-4)  # papers.md: 90.66 vs 89.80
    assert t.reported_average_accuracy("GetMTL") == pytest.approx(0.8980)
    assert t.row_mean_accuracy("STL") == pytest.approx(0.8765, abs=1e-4)
    for col in t.columns:
        assert t.row_mean_accuracy(col) - t.reported_average_accuracy(col) > 0.006

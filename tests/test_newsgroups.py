"""20 Newsgroups (issue 20): the tarball and an extracted folder, latin-1 posts, header / footer / quote
removal, GetMTL's 4 x 4 label sets, the bydate and random splits, their sizes and reproducibility."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from textmtl.data.sets import TOPIC_TASKS, get_benchmark
from textmtl.data.sets.newsgroups import clean, strip_footer, strip_headers, strip_quotes
from textmtl.errors import ConfigError

POST = (
    "From: someone@example.edu\nSubject: Re: hockey scores\nOrganization: A University\nLines: 9\n\n"
    "In article <1@x.edu> other@x.edu writes:\n> the old quoted text\n| another quote\n"
    "The body of the post about {topic}.\nSecond line.\n\n--\nMy signature, {topic}\n"
)


def _posts(tmp: Path, extract: bool) -> Path:
    """A miniature release: 5 train and 3 test posts per newsgroup of every task; post 2 of each
    newsgroup is latin-1, post 4 has headers only."""
    root = tmp / "data" / "20newsgroups"
    root.mkdir(parents=True)
    files = {}
    for split, n in (("20news-bydate-train", 5), ("20news-bydate-test", 3)):
        for groups in TOPIC_TASKS.values():
            for group in groups:
                for i in range(n):
                    text = POST.format(topic=f"{group} {i}")
                    if i == 2:
                        data = (text + "caf\xe9\n").encode("latin-1")
                    elif i == 4:
                        data = b"From: x\nSubject: nothing\n"
                    else:
                        data = text.encode("utf-8")
                    files[f"{split}/{group}/{100 + i}"] = data
    if extract:
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    else:
        with tarfile.open(root / "20news-bydate.tar.gz", "w:gz") as archive:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return tmp / "data"


def test_the_cleaning_steps():
    text = POST.format(topic="t")
    body = strip_headers(text)
    assert body.startswith("In article") and "From:" not in body
    assert strip_headers("From: a\nSubject: headers only\n") == ""
    assert "signature" not in strip_footer(body) and "Second line." in strip_footer(body)
    assert strip_footer("one line only") == "one line only"
    quoted = strip_quotes(body)
    assert "quoted" not in quoted and "another quote" not in quoted and "writes:" not in quoted
    assert "The body" in quoted
    assert clean(text, ("headers", "footers", "quotes")) == "The body of the post about t. Second line."


@pytest.mark.parametrize("extract", [False, True], ids=["tarball", "folder"])
def test_tasks_labels_and_bydate_split(tmp_path, extract):
    bench = get_benchmark("20newsgroups")
    tasks = bench.load(_posts(tmp_path, extract))
    assert [t.name for t in tasks] == ["COMP", "REC", "SCI", "TALK"]
    for t in tasks:
        assert t.spec.labels == TOPIC_TASKS[t.name] and len(t.spec.labels) == 4
        # 4 groups x 5 train posts, one of each empty once the headers are gone; dev = 10% of 16
        assert (len(t.train), len(t.dev), len(t.test), t.skipped_lines) == (15, 1, 12, 4)
        assert sorted({e.label for e in t.train + t.dev}) == [0, 1, 2, 3]
        assert any("café" in e.text for e in t.train + t.dev)  # the latin-1 post
        assert all("From:" not in e.text for e in t.train)
        assert any("signature" in e.text for e in t.train)  # footers and quotes stay by default
    again = bench.load(_posts(tmp_path / "again", extract))
    assert [[e.text for e in t.dev] for t in again] == [[e.text for e in t.dev] for t in tasks]


def test_options_random_split_and_removal(tmp_path):
    bench = get_benchmark("20newsgroups")
    root = _posts(tmp_path, False)
    (comp,) = bench.load(root, ["COMP"], options={"split": "random", "remove": ["headers", "footers", "quotes"]})
    # 7 posts per group: test round(0.2 x 7) = 1, dev round(0.25 x 6) = 2, per group (60/20/20 on real sizes)
    assert (len(comp.train), len(comp.dev), len(comp.test)) == (16, 8, 4)
    assert all("signature" not in e.text and "quoted" not in e.text for e in comp.train + comp.dev + comp.test)
    (again,) = bench.load(root, ["COMP"], options={"split": "random", "remove": ["headers", "footers", "quotes"]})
    assert [e.text for e in again.test] == [e.text for e in comp.test]
    with pytest.raises(ConfigError, match="data.benchmark_options.remove: unknown part 'body'"):
        bench.load(root, ["COMP"], options={"remove": ["body"]})
    with pytest.raises(ConfigError, match="data.benchmark_options.split: expected bydate or random"):
        bench.load(root, ["COMP"], options={"split": "date"})
    with pytest.raises(ConfigError, match=r"benchmark_options.lowercase: unknown option of benchmark 20newsgroups"):
        bench.load(root, ["COMP"], options={"lowercase": True})
    with pytest.raises(ConfigError, match="data.benchmark_options.x: unknown option of benchmark fdu-mtl"):
        get_benchmark("fdu-mtl").load(root, ["books"], options={"x": 1})


def test_the_real_release(data_dir):
    bench = get_benchmark("20newsgroups")
    tasks = {t.name: t for t in bench.load(data_dir)}
    # data.md 4b: train / test posts per task; 21 posts are empty once the headers are removed
    expected = {"COMP": (2346, 1563), "REC": (2389, 1590), "SCI": (2373, 1579), "TALK": (1952, 1301)}
    assert sum(t.skipped_lines for t in tasks.values()) == 21
    for name, (train, test) in expected.items():
        t = tasks[name]
        assert len(t.train) + len(t.dev) + len(t.test) + t.skipped_lines == train + test
        assert len(t.dev) == (len(t.train) + len(t.dev)) // 10


def test_the_topic_4_suite_plans_its_methods_with_their_own_settings():
    from textmtl.benchmarking.plan import plan_runs
    from textmtl.benchmarking.suite import parse_suite, resolve_suite

    grid, _ = plan_runs(resolve_suite("topic-4"))
    assert len(grid) == 14 * 3
    by = {(r.method, r.seed): r.config for r in grid}
    from textmtl.config import validate_config

    assert validate_config(by[("tchebycheff_adv", 1)]).model.architecture == "adversarial"  # the method implies it
    assert by[("ls", 1)]["model"]["architecture"] == "hard" and by[("getmtl", 2)]["method"]["epsilon"] == 0.025
    assert by[("banditmtl", 3)]["data"]["benchmark"] == "20newsgroups"
    with pytest.raises(ConfigError, match=r"methods.0.config: expected a mapping"):
        parse_suite("name: x\nbase: {}\nmethods: [{name: ls, config: [1]}]\nseeds: [1]\n", "x.yaml", Path("."))


def test_the_random_split_diagnostic_differs_from_topic_4_only_in_its_split():
    """benchmarks/suites/topic-4-random-split.yaml (RESULTS §18) is topic-4 on Mao et al.'s 60/20/20
    split, whose dev part picks the checkpoint: the same run config otherwise."""
    from textmtl.benchmarking.plan import plan_runs
    from textmtl.benchmarking.suite import resolve_suite
    from textmtl.config import validate_config

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "suites" / "topic-4-random-split.yaml"
    diagnostic = {(r.method, r.seed): r.config for r in plan_runs(resolve_suite(str(path)))[0]}
    topic = {(r.method, r.seed): r.config for r in plan_runs(resolve_suite("topic-4"))[0]}
    assert set(diagnostic) == {("stl", 1), ("stl", 2), ("ls", 1), ("ls", 2)}
    for key, config in diagnostic.items():
        ours, theirs = validate_config(config).model_dump(), validate_config(topic[key]).model_dump()
        assert ours["data"]["benchmark_options"] == {"remove": ["headers"], "split": "random"}
        assert theirs["data"]["dev_size"] == 0 and ours["data"]["dev_size"] is None
        for part in (ours, theirs):
            del part["data"]["benchmark_options"], part["data"]["dev_size"], part["name"]
        assert ours == theirs


def test_the_first_posts_of_a_split_cover_every_newsgroup(data_dir):
    (comp,) = get_benchmark("20newsgroups").load(data_dir, ["COMP"])
    assert {e.label for e in comp.train[:20]} == {0, 1, 2, 3} and {e.label for e in comp.test[:20]} == {0, 1, 2, 3}

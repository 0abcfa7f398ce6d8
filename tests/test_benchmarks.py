"""Benchmarks, custom tasks and checksums: synthetic files first, then the real data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from textmtl.data.sets import (
    AMAZON_14,
    BENCHMARKS,
    FDU_MTL_DOMAINS,
    FduMtl,
    Glue,
    describe_files,
    get_benchmark,
    hold_out,
    resolve_data_dir,
    sample_in_order,
)
from textmtl.data.custom import load_custom_task
from textmtl.data.checksums import checksum_groups, known_checksums, verify
from textmtl.data.tasks import Example, TaskKind
from textmtl.data.treebank import treebank_like
from textmtl.errors import ConfigError, DataError

# --------------------------------------------------------------------------- helpers


def fake_fdu(root: Path, domain: str = "books", n_train: int = 10, n_test: int = 4) -> None:
    folder = root / "fdu-mtl"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{domain}.task.train").write_text("".join(f"{i % 2}\ttrain text {i}\n" for i in range(n_train)))
    (folder / f"{domain}.task.test").write_text("".join(f"{i % 2}\ttest text {i}\n" for i in range(n_test)))
    (folder / f"{domain}.task.unlabel").write_text("Raw One\nRaw Two\n")


# --------------------------------------------------------------------------- data dir


def test_resolve_data_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEXTMTL_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "x") == tmp_path / "x"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("TEXTMTL_DATA_DIR")
    assert resolve_data_dir() == Path.home() / ".cache" / "textmtl"


def test_describe_files() -> None:
    names = ["books.task.train", "books.task.test", "dvd.task.unlabel", "CoLA/train.tsv", "CoLA/dev.tsv"]
    assert describe_files(names) == "books.task.{train,test}, dvd.task.unlabel, CoLA/{train,dev}.tsv"


def test_hold_out_is_fixed_and_ordered() -> None:
    examples = [Example(str(i), i % 2) for i in range(50)]
    rest, dev = hold_out(examples, 5)
    assert (rest, dev) == hold_out(examples, 5)
    assert len(rest) == 45 and len(dev) == 5
    assert [int(e.text) for e in dev] == sorted(int(e.text) for e in dev)
    assert {e.text for e in rest} | {e.text for e in dev} == {e.text for e in examples}


@given(st.integers(0, 60), st.integers(1, 80), st.integers(0, 5))
def test_sample_in_order_is_a_fixed_ordered_subset(length: int, n: int, seed: int) -> None:
    examples = [Example(str(i), i % 2) for i in range(length)]
    sample = sample_in_order(examples, n, seed=seed)
    assert len(sample) == min(n, length)
    picked = [int(e.text) for e in sample]
    assert picked == sorted(set(picked)) and set(picked) <= set(range(length))
    assert sample == sample_in_order(examples, n, seed=seed)


def test_subsample_first_or_random(tmp_path: Path) -> None:
    from textmtl.api import as_config, load_tasks

    fake_fdu(tmp_path, "books", n_train=60, n_test=40)
    base = {"data": {"benchmark": "fdu-mtl", "tasks": ["books"], "dev_size": 10,
                     "max_train_examples": 8, "max_eval_examples": 5}}

    def numbers(examples: list[Example]) -> list[int]:
        return [int(e.text.split()[-1]) for e in examples]

    (first,) = load_tasks(as_config(base), tmp_path)
    assert numbers(first.train) == list(range(8)) and numbers(first.test) == list(range(5))
    assert numbers(first.dev) == list(range(50, 55))  # the MAN dev split (last 10 lines), then capped
    (spread,) = load_tasks(as_config(base, ["data.subsample=random"]), tmp_path)
    (other_seed,) = load_tasks(as_config(base, ["data.subsample=random", "seed=7"]), tmp_path)
    assert (spread.train, spread.dev, spread.test) == (other_seed.train, other_seed.dev, other_seed.test)
    splits = ((spread.train, range(50), 8), (spread.dev, range(50, 60), 5), (spread.test, range(40), 5))
    for split, pool, size in splits:
        picked = numbers(split)
        assert len(picked) == size and picked == sorted(picked) and set(picked) <= set(pool)
        assert picked != list(pool)[:size]  # not the file's first lines
    with pytest.raises(ConfigError, match="subsample"):
        as_config(base, ["data.subsample=shuffled"])


# --------------------------------------------------------------------------- registry


def test_registry_and_suggestions() -> None:
    assert set(BENCHMARKS) == {"fdu-mtl", "glue", "conll2003", "20newsgroups"}
    assert isinstance(get_benchmark("fdu-mtl"), FduMtl) and isinstance(get_benchmark("glue"), Glue)
    with pytest.raises(ConfigError, match="did you mean 'fdu-mtl'"):
        get_benchmark("fdu_mtl")
    with pytest.raises(ConfigError, match="did you mean 'SST-2'"):
        get_benchmark("glue").resolve_tasks(["sst2"])
    with pytest.raises(ConfigError, match="did you mean 'kitchen_housewares'"):
        get_benchmark("fdu-mtl").load("/nonexistent", ["kitchen"])
    with pytest.raises(ConfigError, match="twice"):
        get_benchmark("fdu-mtl").resolve_tasks(["books", "books"])


def test_fdu_domains() -> None:
    assert len(FDU_MTL_DOMAINS) == 16 and FDU_MTL_DOMAINS[:3] == ("books", "electronics", "dvd")
    assert FDU_MTL_DOMAINS[-1] == "MR"
    assert len(AMAZON_14) == 14 and "imdb" not in AMAZON_14 and "MR" not in AMAZON_14
    assert get_benchmark("fdu-mtl").expected_files("MR")[0] == Path("fdu-mtl/MR.task.train")


def test_glue_specs() -> None:
    glue = get_benchmark("glue")
    assert glue.spec("CoLA").metrics == ("mcc", "accuracy")
    assert glue.spec("MRPC").metrics == ("f1", "accuracy")
    assert glue.spec("STS-B").kind == TaskKind.REGRESSION and glue.spec("STS-B").metrics == ("pearson", "spearman")
    assert glue.spec("RTE").labels == ("entailment", "not_entailment")
    assert glue.spec("QNLI").kind == TaskKind.PAIR_CLASSIFICATION
    assert glue.expected_files("QNLI") == [Path("glue/QNLI/dev.tsv")]


# --------------------------------------------------------------------------- missing files


def test_missing_files_listed_in_one_error(tmp_path: Path) -> None:
    fake_fdu(tmp_path, "books")
    (tmp_path / "fdu-mtl" / "books.task.test").unlink()
    with pytest.raises(DataError) as exc:
        get_benchmark("fdu-mtl").load(tmp_path, ["books", "dvd"])
    message = str(exc.value)
    assert str(tmp_path / "fdu-mtl") in message
    assert "missing books.task.test, dvd.task.{train,test,unlabel}" in message
    assert "TEXTMTL_DATA_DIR" in message and "\n" not in message


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"directory not found; expected CoLA/\{train,dev\}.tsv, QNLI/dev.tsv"):
        get_benchmark("glue").load(tmp_path, ["CoLA", "QNLI"])


def test_split_sizes_skips_missing_tasks(tmp_path: Path) -> None:
    fake_fdu(tmp_path, "dvd", n_train=300)
    assert get_benchmark("fdu-mtl").split_sizes(tmp_path) == {
        "dvd": {"train": 100, "dev": 200, "test": 4, "unlabelled": 2}
    }
    assert get_benchmark("glue").split_sizes(tmp_path) == {}


# --------------------------------------------------------------------------- FDU-MTL options


def test_fdu_dev_split_options(tmp_path: Path) -> None:
    fake_fdu(tmp_path, "books", n_train=10)
    bench = get_benchmark("fdu-mtl")
    (task,) = bench.load(tmp_path, ["books"], dev_size=3, unlabelled=False)
    assert [e.text for e in task.dev] == ["train text 7", "train text 8", "train text 9"]
    assert len(task.train) == 7 and task.unlabelled == [] and task.spec.labels == ("0", "1")
    (merged,) = bench.load(tmp_path, ["books"], dev_size=3, merge_dev_into_train=True)
    assert len(merged.train) == 10 and merged.dev == task.dev
    assert merged.unlabelled == [Example("raw one"), Example("raw two")]  # tokenised like the labelled files
    (capped,) = bench.load(tmp_path, ["books"], dev_size=3, max_train_examples=2)
    assert [e.text for e in capped.train] == ["train text 0", "train text 1"]
    with pytest.raises(ConfigError, match="dev_size"):
        bench.load(tmp_path, ["books"])  # default 200 >= 10 lines


def test_fdu_bad_line_and_skip(tmp_path: Path) -> None:
    fake_fdu(tmp_path, "books", n_train=10)
    path = tmp_path / "fdu-mtl" / "books.task.test"
    path.write_text("1\tok\n5\tbad label\n0\t\n")
    bench = get_benchmark("fdu-mtl")
    with pytest.raises(DataError, match=r"books\.task\.test:2: expected 'label<TAB>text'"):
        bench.load(tmp_path, ["books"], dev_size=2)
    (task,) = bench.load(tmp_path, ["books"], dev_size=2, skip_bad_lines=True)
    assert len(task.test) == 1 and task.skipped_lines == 2


# --------------------------------------------------------------------------- custom tasks


def test_custom_csv_infers_labels_and_holds_out_dev(tmp_path: Path) -> None:
    rows = "".join(f"review {i},{'pos' if i % 3 else 'neg'}\n" for i in range(40))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("text,label\n" + rows)
    (tmp_path / "data" / "test.csv").write_text("text,label\nnice,pos\n")
    task = load_custom_task(
        "reviews",
        kind="classification",
        files={"train": "data/train.csv", "test": "data/test.csv"},
        columns={"text": "text", "label": "label"},
        base_dir=tmp_path,
        dev_size=5,
    )
    assert task.spec.labels == ("neg", "pos") and task.spec.metrics == ("accuracy",)
    assert len(task.train) == 35 and len(task.dev) == 5 and task.test == [Example("nice", 1)]
    again = load_custom_task(
        "reviews", kind="classification", files={"train": "data/train.csv", "test": "data/test.csv"},
        columns={"text": "text", "label": "label"}, base_dir=tmp_path, dev_size=5,
    )  # fmt: skip
    assert again.dev == task.dev


def test_custom_jsonl_regression_with_dev_file(tmp_path: Path) -> None:
    for split, n in (("train", 6), ("dev", 2), ("test", 3)):
        lines = [json.dumps({"a": f"s{i}", "b": f"t{i}", "y": i / 2}) for i in range(n)]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    task = load_custom_task(
        "sim",
        kind=TaskKind.REGRESSION,
        fmt=None,
        files={"train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"},
        columns={"text": "a", "text_pair": "b", "label": "y"},
        base_dir=tmp_path,
        metrics=["spearman"],
    )
    assert (len(task.train), len(task.dev), len(task.test)) == (6, 2, 3)
    assert task.train[1] == Example("s1", 0.5, "t1") and task.spec.metrics == ("spearman",)


def test_custom_task_errors(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text("text\tlabel\na\t1\nb\t0\nc\t1\n")
    (tmp_path / "test.tsv").write_text("text\tlabel\nd\t2\n")
    args = {"files": {"train": "train.tsv", "test": "test.tsv"}, "columns": {"text": "text", "label": "label"}}
    with pytest.raises(ConfigError, match="did you mean 'regression'"):
        load_custom_task("t", kind="regresion", base_dir=tmp_path, **args)
    with pytest.raises(DataError, match=r"test\.tsv:2: unknown label '2', expected one of \{0, 1\}"):
        load_custom_task("t", kind="classification", base_dir=tmp_path, **args)
    with pytest.raises(DataError, match="not found") as exc:
        load_custom_task("t", kind="classification", base_dir=tmp_path / "elsewhere", **args)
    assert "train.tsv" in str(exc.value) and "test.tsv" in str(exc.value)
    with pytest.raises(ConfigError, match="'test' file is required"):
        load_custom_task("t", kind="classification", files={"train": "train.tsv"}, columns={}, base_dir=tmp_path)
    (tmp_path / "train.txt").write_text("x")
    with pytest.raises(ConfigError, match="format"):
        load_custom_task(
            "t", kind="classification", files={"train": "train.txt", "test": "test.tsv"}, columns={}, base_dir=tmp_path
        )


# --------------------------------------------------------------------------- checksums


def test_checksums_shipped() -> None:
    sums = known_checksums()
    assert len(sums) == 78 and checksum_groups() == ("20newsgroups", "conll2003", "fdu-mtl", "glue")
    assert all(len(h) == 64 for h in sums.values())
    assert "fdu-mtl/books.task.train" in sums


def test_verify_missing_and_mismatch(tmp_path: Path) -> None:
    fake_fdu(tmp_path, "books")
    results = {r.path: r for r in verify(tmp_path, "fdu-mtl")}
    assert len(results) == 48
    assert results["fdu-mtl/books.task.train"].status == "mismatch"
    assert results["fdu-mtl/dvd.task.train"].status == "missing"
    with pytest.raises(ConfigError, match="did you mean 'glue'"):
        verify(tmp_path, "gleu")


# --------------------------------------------------------------------------- real data

REAL = resolve_data_dir()
needs_real = pytest.mark.skipif(not (REAL / "fdu-mtl").is_dir(), reason=f"no FDU-MTL data in {REAL}")


@pytest.fixture(scope="module")
def fdu_all():
    return {t.name: t for t in get_benchmark("fdu-mtl").load(REAL)}


@pytest.fixture(scope="module")
def glue_all():
    if not (REAL / "glue").is_dir():
        pytest.skip(f"no GLUE data in {REAL}")
    return {t.name: t for t in get_benchmark("glue").load(REAL)}


@needs_real
def test_real_fdu_counts(fdu_all) -> None:
    assert list(fdu_all) == list(FDU_MTL_DOMAINS)
    books = fdu_all["books"]
    assert (len(books.train), len(books.dev), len(books.test), len(books.unlabelled)) == (1400, 200, 400, 2000)
    assert len(fdu_all["software"].unlabelled) == 475
    assert len(fdu_all["baby"].train) == 1300
    assert len(fdu_all["sports_outdoors"].train) == 1399 and fdu_all["sports_outdoors"].skipped_lines == 1
    assert sum(t.skipped_lines for t in fdu_all.values()) == 1
    assert all(e.label in (0, 1) and e.text for t in fdu_all.values() for e in t.train + t.dev + t.test)


@needs_real
def test_real_fdu_latin1_files(fdu_all) -> None:
    mr, dvd = fdu_all["MR"], fdu_all["dvd"]
    assert (len(mr.train) + len(mr.dev), len(mr.test), len(mr.unlabelled)) == (1600, 400, 2000)
    assert len(dvd.train) + len(dvd.dev) == 1600
    assert any("\x85" in e.text for e in mr.train + mr.dev)  # kept inside a line, not split on


@needs_real
def test_real_fdu_unlabelled_text_is_tokenised_like_the_labelled_text(fdu_all) -> None:
    """The Amazon domains' raw unlabelled reviews are re-tokenised (data/treebank.py): their share
    of words outside the training vocabulary drops to that of the test set; imdb's and MR's,
    already tokenised, are kept as they are."""
    def unknown_share(texts: list[str], vocab: set[str]) -> float:
        words = [w for t in texts for w in t.split()]
        return sum(w not in vocab for w in words) / len(words)

    raw = (REAL / "fdu-mtl" / "books.task.unlabel").read_text(encoding="utf-8").split("\n")
    for name in ("books", "software", "MR"):
        task = fdu_all[name]
        vocab = {w for e in task.train for w in e.text.split()}
        unlabelled = unknown_share([e.text for e in task.unlabelled], vocab)
        assert abs(unlabelled - unknown_share([e.text for e in task.test], vocab)) < 0.02, name
    assert fdu_all["books"].unlabelled[0].text == treebank_like(raw[0])
    assert fdu_all["books"].unlabelled[0].text != raw[0].strip()
    assert all(e.label is None for e in fdu_all["MR"].unlabelled)


def test_treebank_like_matches_the_labelled_files_style() -> None:
    text = 'McCarthy\'s "new" book, which I didn\'t like... costs $1,000. Mr. Smith (in the U.S.) agrees; see p. 3!'
    assert treebank_like(text) == ("mccarthy 's `` new '' book , which i did n't like ... costs $ 1,000 . "
                                   "mr. smith ( in the u.s. ) agrees ; see p. 3 !")
    assert treebank_like("it was -- well -- great: http://x.org") == "it was -- well -- great : http://x.org"
    assert treebank_like("") == ""


@needs_real
def test_real_glue(glue_all) -> None:
    cola = glue_all["CoLA"]
    assert len(cola.test) == 1043 and len(cola.dev) == 855 and len(cola.train) == 8551 - 855
    stsb = glue_all["STS-B"]
    assert len(stsb.test) == 1500
    assert all(isinstance(e.label, float) and 0.0 <= e.label <= 5.0 and e.text_pair for e in stsb.train + stsb.test)
    mrpc = glue_all["MRPC"]
    assert mrpc.spec.labels == ("0", "1") and len(mrpc.train) + len(mrpc.dev) == 3667 and len(mrpc.test) == 408
    assert {e.label for e in mrpc.test} == {0, 1} and all(e.text_pair for e in mrpc.test)
    assert len(glue_all["SST-2"].dev) == 1000 and len(glue_all["RTE"].test) == 277
    qnli = glue_all["QNLI"]
    assert (len(qnli.train), len(qnli.dev), len(qnli.test)) == (4371, 546, 546)
    assert {e.label for e in qnli.test} == {0, 1}


@needs_real
def test_real_glue_dev_is_fixed(glue_all) -> None:
    (again,) = get_benchmark("glue").load(REAL, ["RTE"])
    assert again.dev == glue_all["RTE"].dev and again.train == glue_all["RTE"].train


@needs_real
def test_real_checksums_fdu() -> None:
    results = verify(REAL, "fdu-mtl")
    assert len(results) == 48 and all(r.status == "ok" for r in results)

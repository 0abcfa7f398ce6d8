"""Custom tasks from the HF world (save_to_disk folders, parquet, Arrow, in-memory datasets) and the
split options every format shares (dev/test carved from train, label mappings, suffix inference)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

import textmtl
from textmtl.data.custom import load_custom_task
from textmtl.errors import ConfigError, DataError

from ._cli import run_main

datasets = pytest.importorskip("datasets")
COLUMNS = {"text": "sentence", "label": "label"}


def make_dict(n_train=120, n_test=40):
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    pos, neg = ["great fun", "loved it", "superb"], ["awful", "boring", "bad plot"]
    feats = Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"])})

    def rows(n, offset):
        labels = [1 if (i * 7) % 10 < 3 else 0 for i in range(n)]  # 30% positive: stratification shows
        return {"sentence": [f"{(pos if y else neg)[i % 3]} {i + offset}" for i, y in enumerate(labels)],
                "label": labels}

    return DatasetDict({"train": Dataset.from_dict(rows(n_train, 0), features=feats),
                        "validation": Dataset.from_dict(rows(30, 1000), features=feats),
                        "test": Dataset.from_dict(rows(n_test, 2000), features=feats)})


def test_a_saved_datasetdict_keeps_its_splits_and_label_names(tmp_path):
    make_dict().save_to_disk(str(tmp_path / "dd"))
    task = load_custom_task("t", kind="classification", columns=COLUMNS, dataset=tmp_path / "dd")
    assert task.spec.labels == ("negative", "positive")
    assert (len(task.train), len(task.dev), len(task.test)) == (120, 30, 40)
    assert task.train[0].text == "great fun 0" and task.train[0].label == 1
    assert task.origin["dev"].endswith("validation")


def test_parquet_arrow_and_a_saved_dataset_read_the_same_rows(tmp_path):
    dd = make_dict()
    dd["train"].to_parquet(str(tmp_path / "train.parquet"))
    dd["test"].to_parquet(str(tmp_path / "test.parquet"))
    dd["train"].save_to_disk(str(tmp_path / "train_folder"))
    arrow = next((tmp_path / "train_folder").glob("*.arrow"))
    tasks = [
        load_custom_task("p", kind="classification", columns=COLUMNS,
                         files={"train": tmp_path / "train.parquet", "test": tmp_path / "test.parquet"}),
        load_custom_task("f", kind="classification", columns=COLUMNS,
                         files={"train": tmp_path / "train_folder", "test": tmp_path / "test.parquet"}),
        load_custom_task("a", kind="classification", columns=COLUMNS, labels=["0", "1"],
                         files={"train": arrow, "test": tmp_path / "test.parquet"}),
    ]
    assert tasks[0].spec.labels == tasks[1].spec.labels == ("negative", "positive")  # ClassLabel names
    for t in tasks:
        assert [(e.text, e.label) for e in t.train + t.dev] == [(e.text, e.label) for e in tasks[0].train + tasks[0].dev]


def test_in_memory_datasets_train_and_evaluate(tmp_path):
    dd = make_dict()
    cfg = {"name": "mem", "model": {"encoder": {"type": "textcnn", "embedding_dim": 8, "num_filters": 4,
                                                "kernel_sizes": [2], "glove": False}},
           "data": {"custom_tasks": [{"name": "a", "columns": COLUMNS},
                                     {"name": "b", "columns": COLUMNS, "test_fraction": 0.25}]},
           "training": {"steps": 4, "batch_size": 8, "device": "cpu"}, "output": {"runs_dir": str(tmp_path)}}
    result = textmtl.train(cfg, datasets={"a": dd, "b": dd["train"].select(range(80))}, progress=False)
    data = json.loads((result.path / "metrics.json").read_text())["data"]
    assert data["a"]["train"] == 120 and data["a"]["from"]["test"] == "<Dataset a/test>"
    assert data["b"]["test"] == 20 and data["b"]["from"]["test"].startswith("carved from train: 0.25, stratified")
    again = textmtl.evaluate(result.path, datasets={"a": dd, "b": dd["train"].select(range(80))})
    assert again["average"]["test"] == pytest.approx(result.metrics["average"]["test"])
    with pytest.raises(ConfigError, match="in-memory datasets object; pass it again"):
        textmtl.evaluate(result.path)
    assert json.loads((result.path / "metrics.json").read_text())["tasks"].keys() == {"a", "b"}  # no benchmark


def test_dev_and_test_carved_from_train_are_stratified_and_reproducible(tmp_path):
    make_dict(n_train=400)["train"].to_parquet(str(tmp_path / "all.parquet"))

    def load(seed=0):
        return load_custom_task("t", kind="classification", columns=COLUMNS, files={"train": tmp_path / "all.parquet"},
                                dev_fraction=0.1, test_fraction=0.2, split_seed=seed)

    first, second, other = load(), load(), load(seed=7)
    assert [e.text for e in first.test] == [e.text for e in second.test]
    assert [e.text for e in first.dev] == [e.text for e in second.dev]
    assert [e.text for e in first.test] != [e.text for e in other.test]
    assert (len(first.train), len(first.dev), len(first.test)) == (288, 32, 80)
    for part in (first.dev, first.test):
        share = Counter(e.label for e in part)[1] / len(part)
        assert share == pytest.approx(0.3, abs=0.02)  # the train file's 30% positives, in each part
    texts = [e.text for e in first.train + first.dev + first.test]
    assert len(set(texts)) == 400  # a partition


def test_split_options_every_format_shares(tmp_path):
    (tmp_path / "train.tsv").write_text("".join(f"{'pos' if i % 2 else 'neg'}\tsentence {i}\n" for i in range(40)))
    (tmp_path / "test.tsv").write_text("pos\tgood\nneg\tbad\n")
    files = {"train": tmp_path / "train.tsv", "test": tmp_path / "test.tsv"}
    task = load_custom_task("t", kind="classification", files=files, columns={"label": 0, "text": 1},
                            has_header=False, labels={"neg": 0, "pos": 1})  # .tsv: no format needed
    assert task.spec.labels == ("neg", "pos") and task.train[0].text.startswith("sentence")
    names = load_custom_task("t", kind="classification", files=files, columns={"label": 0, "text": 1},
                             has_header=False, labels={"neg": "negative", "pos": "positive"})
    assert names.spec.labels == ("negative", "positive") and names.test[0].label == 1
    with pytest.raises(DataError, match="has_header: false"):  # a headerless file read with a header
        load_custom_task("t", kind="classification", files=files, columns={"label": "label", "text": "text"})
    with pytest.raises(ConfigError, match="dev part already"):
        load_custom_task("t", kind="classification", files={**files, "dev": tmp_path / "test.tsv"},
                         columns={"label": 0, "text": 1}, has_header=False, dev_size=5)
    with pytest.raises(ConfigError, match="same file as train"):
        load_custom_task("t", kind="classification", files={"train": files["train"], "test": files["train"]},
                         columns={"label": 0, "text": 1}, has_header=False)
    with pytest.raises(ConfigError, match="indices must be 0..1"):
        load_custom_task("t", kind="classification", files=files, columns={"label": 0, "text": 1},
                         has_header=False, labels={"neg": 0, "pos": 2})


def test_bad_columnar_input_is_one_line_naming_file_and_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"sentence": ["fine", None, "ok"], "label": [0, 1, 1]}), tmp_path / "train.parquet")
    (tmp_path / "c.yaml").write_text(
        "data:\n  benchmark: null\n  custom_tasks:\n    - name: t\n      files: {train: train.parquet}\n"
        "      test_fraction: 0.3\n      columns: {text: sentence, label: label}\n"
    )
    code, printed = run_main(["train", str(tmp_path / "c.yaml"), "--runs-dir", str(tmp_path / "runs")])
    assert code == 2 and len(printed.strip().splitlines()) == 1
    assert "train.parquet:2: row 2: no value (null) in column sentence" in printed
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    (tmp_path / "c.yaml").write_text((tmp_path / "c.yaml").read_text().replace("train.parquet", "bad.parquet"))
    code, printed = run_main(["train", str(tmp_path / "c.yaml"), "--runs-dir", str(tmp_path / "runs")])
    assert code == 2 and "bad.parquet: not a readable parquet file" in printed
    assert not (tmp_path / "runs").exists()

"""The four CONTRIBUTING recipes: a component registered from a module outside the package trains a
tiny run through config alone (and is then unregistered), touching no file of textmtl."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import textmtl
from textmtl.config import validate_config
from textmtl.errors import ConfigError
from textmtl.registry import REGISTRIES

PLUGINS = Path(__file__).parent / "plugins"
TINY = {"type": "textcnn", "glove": False, "embedding_dim": 8, "num_filters": 4}


@pytest.fixture
def plugin():
    """Load a plugin file as a fresh module; unregister what it registered afterwards."""
    loaded: list[str] = []
    before = {kind: set(reg.names()) for kind, reg in REGISTRIES.items()}

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"textmtl_plugin_{name}", PLUGINS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        loaded.append(spec.name)
        return module

    yield load
    for kind, reg in REGISTRIES.items():
        for name in set(reg.names()) - before[kind]:
            reg.unregister(name)
    for name in loaded:
        sys.modules.pop(name, None)


def write_csv(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{w} film {i},{'pos' if w == 'good' else 'neg'}\n" for i, w in enumerate(("good", "bad") * 12))
    for split in ("train", "dev", "test"):
        (folder / f"{split}.csv").write_text("text,label\n" + rows)
    return {s: str(folder / f"{s}.csv") for s in ("train", "dev", "test")}


def config(tmp_path: Path, **sections) -> dict:
    files = write_csv(tmp_path / "data")
    cfg = {"name": "plugin", "data": {"benchmark": None, "custom_tasks": [
               {"name": "a", "files": files}, {"name": "b", "files": files}]},
           "model": {"encoder": TINY}, "text": {"max_length": 8},
           "training": {"steps": 4, "batch_size": 4, "eval_every": 2}, "output": {"runs_dir": str(tmp_path / "runs")}}
    cfg.update(sections)
    return cfg


def test_recipe_method(plugin, tmp_path):
    plugin("toy_method")
    result = textmtl.train(config(tmp_path, method={"name": "toy_worst_task", "scale": 0.5}), progress=False)
    history = [json.loads(line) for line in (result.path / "history.jsonl").read_text().splitlines()]
    assert result.metrics["method"] == "toy_worst_task"
    assert all(sorted(r["weights"].values()) == [0.0, 0.5] for r in history)  # exactly one task per step
    with pytest.raises(ConfigError, match=r"method.scal: unknown hyper-parameter .*did you mean 'scale'"):
        textmtl.train(config(tmp_path, method={"name": "toy_worst_task", "scal": 1}), progress=False)


def test_recipe_method_name_taken_twice_is_an_error(plugin):
    module = plugin("toy_method")
    from textmtl.methods import register

    with pytest.raises(ValueError, match="already registered"):
        register(type("Again", (module.WorstTaskOnly,), {}))


def test_recipe_architecture(plugin, tmp_path):
    plugin("toy_architecture")
    cfg = config(tmp_path, model={"architecture": "toy_adapter", "toy_adapter": {"hidden": 5}, "encoder": TINY})
    result = textmtl.train(cfg, progress=False)
    assert result.metrics["architecture"]["architecture"] == "toy_adapter"
    assert result.metrics["architecture"]["hidden"] == 5
    assert textmtl.predict(result.path, "a", ["good film 3"]) in (["pos"], ["neg"])  # reloads through the registry
    bad = config(tmp_path, model={"architecture": "toy_adapter", "toy_adapter": {"hiden": 5}, "encoder": TINY})
    with pytest.raises(ConfigError, match=r"unknown key 'model.toy_adapter.hiden' \(did you mean 'hidden'\?\)"):
        validate_config(bad)
    wrong = config(tmp_path, model={"architecture": "hard", "toy_adapter": {"hidden": 5}, "encoder": TINY})
    with pytest.raises(ConfigError, match="model.toy_adapter is set, but it configures architecture toy_adapter"):
        validate_config(wrong)


def test_recipe_data_format(plugin, tmp_path):
    plugin("toy_format")
    folder = tmp_path / "json"
    folder.mkdir()
    rows = [{"review": f"{w} film {i}", "stars": "pos" if w == "good" else "neg"}
            for i, w in enumerate(("good", "bad") * 10)]
    for split in ("train", "test"):
        (folder / f"{split}.json").write_text(json.dumps(rows))
    task = {"name": "j", "format": "json_array", "files": {"train": str(folder / "train.json"),
            "test": str(folder / "test.json")}, "columns": {"text": "review", "label": "stars"}}
    cfg = config(tmp_path)
    cfg["data"]["custom_tasks"] = [task]
    result = textmtl.train(cfg, progress=False)
    assert set(result.metrics["tasks"]) == {"j"}
    (folder / "test.json").write_text(json.dumps(rows[:3] + [{"review": "no label"}]))
    with pytest.raises(textmtl.DataError, match=r"test.json:4: object 4: missing key\(s\) stars"):
        textmtl.train(cfg, progress=False)
    from textmtl.data.formats import format_for_suffix

    assert format_for_suffix(folder / "x.json") == "json_array"  # the format is inferred from the suffix


def test_recipe_benchmark(plugin, tmp_path):
    plugin("toy_benchmark")
    root = tmp_path / "data" / "toy-topics"
    root.mkdir(parents=True)
    for task, word in (("sports", "goal"), ("science", "atom")):
        lines = "".join(f"{'yes' if i % 2 else 'no'}\t{word if i % 2 else 'other'} text {i}\n" for i in range(30))
        for split in ("train", "test"):
            (root / f"{task}.{split}.tsv").write_text(lines)
    cfg = config(tmp_path, data={"benchmark": "toy-topics", "data_dir": str(tmp_path / "data")})
    result = textmtl.train(cfg, progress=False)
    assert set(result.metrics["tasks"]) == {"sports", "science"}
    from textmtl.data.sets import get_benchmark

    assert get_benchmark("toy-topics").split_sizes(tmp_path / "data")["sports"] == {
        "train": 27, "dev": 3, "test": 30, "unlabelled": 0}
    with pytest.raises(ConfigError, match="did you mean 'toy-topics'"):
        validate_config(config(tmp_path, data={"benchmark": "toy-topic"}))

"""No pickle anywhere: the source never unpickles, and loading a run or a model folder does not either."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

import textmtl

SRC = Path(textmtl.__file__).resolve().parent
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "shelve", "marshal", "cloudpickle"}
FORBIDDEN_YAML = {"unsafe_load", "unsafe_load_all", "full_load", "full_load_all", "Loader", "UnsafeLoader",
                  "FullLoader"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "ConfigLoader"}  # ConfigLoader: textmtl's, a SafeLoader (tested)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str) -> list[str]:
    """Every pickle-capable import or call in `source` (a Python module), as 'line: what'."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            bad = [n for n in names if n and n.split(".")[0] in FORBIDDEN_MODULES]
            if bad:
                problems.append(f"{node.lineno}: imports {bad[0]}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "yaml" and node.attr in FORBIDDEN_YAML:
                problems.append(f"{node.lineno}: yaml.{node.attr}")
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        attr = node.func.attr
        if owner == "torch" and attr == "load" and not _is_true(_keyword(node, "weights_only")):
            problems.append(f"{node.lineno}: torch.load without weights_only=True")
        if owner == "yaml" and attr in ("load", "load_all"):
            loader = _keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            name = getattr(loader, "attr", getattr(loader, "id", None))
            if name not in SAFE_YAML_LOADERS:
                problems.append(f"{node.lineno}: yaml.{attr} without SafeLoader")
        if owner in ("np", "numpy") and attr == "load" and not (
                _keyword(node, "allow_pickle") is None or isinstance(_keyword(node, "allow_pickle"), ast.Constant)
                and _keyword(node, "allow_pickle").value is False):
            problems.append(f"{node.lineno}: np.load with allow_pickle")
        safetensors = _is_true(_keyword(node, "use_safetensors"))
        if attr == "from_pretrained" and owner.startswith("AutoModel") and not safetensors:
            problems.append(f"{node.lineno}: {owner}.from_pretrained without use_safetensors=True")
    return problems


def test_the_checker_finds_unsafe_loading():
    bad = ("import pickle\nfrom joblib import load\nimport torch, yaml, numpy as np\n"
           "torch.load('x')\ntorch.load('x', weights_only=False)\nyaml.load(t)\nyaml.load(t, Loader=yaml.Loader)\n"
           "yaml.full_load(t)\nnp.load('x', allow_pickle=True)\nAutoModel.from_pretrained('x')\n")
    assert len(unsafe_calls(bad)) == 10
    good = ("import torch, yaml\ntorch.load('x', weights_only=True)\nyaml.safe_load(t)\n"
            "yaml.load(t, Loader=yaml.CSafeLoader)\nnp.load('x', mmap_mode='r')\n"
            "AutoModel.from_pretrained('x', use_safetensors=True)\n")
    assert unsafe_calls(good) == []


def test_the_config_loader_is_a_safe_loader():
    import yaml

    from textmtl.config.loading import ConfigLoader

    assert issubclass(ConfigLoader, yaml.SafeLoader)
    with pytest.raises(yaml.YAMLError):  # no Python objects, as with yaml.safe_load
        yaml.load("!!python/object/apply:os.system ['true']", Loader=ConfigLoader)


def test_no_unsafe_loading_in_the_source():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20
    problems = [f"{p.relative_to(SRC)}:{problem}" for p in files for problem in unsafe_calls(p.read_text())]
    assert problems == []


def test_loading_a_run_and_a_model_folder_never_unpickles(toy_csv_task, tiny_bert, tmp_path, monkeypatch):
    from textmtl.models.encoders import PretrainedTransformer

    from .test_training import toy_config

    run = textmtl.train(toy_config(toy_csv_task, tmp_path / "runs", training={"steps": 2}), progress=False).path
    assert {p.suffix for p in run.rglob("*") if p.is_file()} <= {".json", ".jsonl", ".yaml", ".safetensors"}

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    assert textmtl.predict(run, "toy_a", ["a great movie"]) in (["pos"], ["neg"])
    PretrainedTransformer.from_folder(tiny_bert)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_text((tiny_bert / "config.json").read_text())
    (tmp_path / "bin" / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(textmtl.TextmtlError, match="pytorch_model.bin, a pickle"):
        PretrainedTransformer.from_folder(tmp_path / "bin")

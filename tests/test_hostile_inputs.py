"""Hostile and careless inputs of issue 22 that this round answers: one line, exit 2, nothing written
(run names that would leave the runs directory, out-of-range seeds and budgets, empty kernels,
devices that are not there)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

import textmtl
from textmtl.config import validate_config
from textmtl.errors import ConfigError

from ._cli import run_main

BAD_NAMES = ["../../escaped_run", "/tmp/absolute_run", "", ".", "..", "a\nb", "a/b/c", "x\0y", "x" * 300,
             "run.partial", "-leading-dash"]


def toy(tmp_path: Path, **over) -> dict:
    rows = "".join(f"{w} film {i},{'pos' if w == 'good' else 'neg'}\n" for i, w in enumerate(("good", "bad") * 6))
    for split in ("train", "test"):
        (tmp_path / f"{split}.csv").write_text("text,label\n" + rows)
    cfg = {"name": "toy", "data": {"benchmark": None, "custom_tasks": [
        {"name": "t", "files": {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}}]},
        "model": {"encoder": {"type": "textcnn", "glove": False, "embedding_dim": 4, "num_filters": 2}},
        "training": {"steps": 1, "batch_size": 4}, "output": {"runs_dir": str(tmp_path / "runs")}}
    for key, value in over.items():
        section, _, leaf = key.partition("__")
        if leaf:
            cfg.setdefault(section, {})[leaf] = value
        else:
            cfg[key] = value
    return cfg


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_run_name_is_one_folder_under_the_runs_directory(tmp_path, name):
    with pytest.raises(ConfigError, match=r"name: expected a run name") as info:
        validate_config(toy(tmp_path, name=name))
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^--name: expected a run name"):
        textmtl.train(toy(tmp_path), name=name, progress=False)
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "escaped_run").exists()


def test_names_the_project_uses_stay_valid(tmp_path):
    for name in ("fdu-mtl-quick", "textcnn-ls-s1", "SST-2-s1-0a1b2c3d4e", "amazon14-ls-45ep-s1", "a+b.c_d"):
        assert validate_config(toy(tmp_path, name=name)).name == name


@pytest.mark.parametrize("key,value,match", [
    ("seed", -5, "seed: Input should be greater than or equal to 0"),
    ("seed", 2**70, "seed: Input should be less than"),
    ("training__epochs", 1e308, "training.epochs: Input should be less than or equal to 1000000"),
    ("training__device", "tpu", "training.device: expected auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
    ("training__device", "meta", "training.device: expected auto, cpu, cuda, cuda:N or mps"),
])
def test_out_of_range_settings_are_one_line_errors(tmp_path, key, value, match):
    with pytest.raises(ConfigError, match=match) as info:
        validate_config(toy(tmp_path, **{key: value}))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kernels,match", [([], "at least 1 item"), ([0], "greater than or equal to 1"),
                                           ([-3], "greater than or equal to 1")])
def test_textcnn_needs_kernels(tmp_path, kernels, match):
    cfg = toy(tmp_path)
    cfg["model"]["encoder"]["kernel_sizes"] = kernels
    with pytest.raises(ConfigError, match=rf"model.encoder.kernel_sizes.*{match}"):
        validate_config(cfg)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
@pytest.mark.parametrize("device", ["cuda", "cuda:99"])
def test_a_device_that_is_not_there_stops_before_anything_is_written(tmp_path, device):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(toy(tmp_path, training__device=device)))
    code, printed = run_main(["train", str(config), "--quiet"])
    assert code == 2 and "Traceback" not in printed, printed
    assert len(printed.strip().splitlines()) == 1 and f"training.device: '{device}' is not available" in printed
    assert not (tmp_path / "runs").exists()


def test_yaml_exponents_are_floats_everywhere(tmp_path):
    """PyYAML (YAML 1.1) reads `1e-3` as a string: `training.lr: 1e-3` worked through pydantic's
    coercion, `epsilon: 1e-3` in a method block did not."""
    from textmtl.config import load_config
    from textmtl.methods import make_method

    path = tmp_path / "c.yaml"
    cfg = toy(tmp_path)
    text = yaml.safe_dump(cfg) + "method: {name: getmtl, epsilon: 1e-3}\n"
    path.write_text(text.replace("steps: 1", "steps: 1\n  lr: 2e-4"))
    loaded = load_config(path)
    assert loaded.training.lr == 2e-4 and loaded.method.params == {"epsilon": 0.001}
    assert make_method(loaded.method.name, loaded.method.params).aggregator.epsilon == 0.001
    again = load_config(path, ["method.epsilon=5e-3"])
    assert again.method.params == {"epsilon": 0.005}


def test_a_key_given_twice_is_an_error_naming_the_line(tmp_path):
    from textmtl.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("name: a\nseed: 1\nname: b\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: invalid YAML: key 'name' is given twice in one mapping"):
        load_config(path)


def test_a_complex_key_is_still_a_one_line_error(tmp_path):
    from textmtl.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("? [1, 2]\n: 3\n")  # found by the fuzzer: an unhashable key
    with pytest.raises(ConfigError, match=r"c.yaml:1: invalid YAML: found unhashable key"):
        load_config(path)

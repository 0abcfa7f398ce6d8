import numpy as np
import pytest
from scipy import stats

from textmtl.config import load_config, validate_config
from textmtl.errors import ConfigError
from textmtl.methods import make_method
from textmtl.training.metrics import accuracy, f1, macro_f1, mcc, pearson, spearman, token_accuracy


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_defaults_and_method_shorthand(tmp_path):
    cfg = load_config(write(tmp_path, "method: stl\n"))
    assert cfg.method.name == "stl" and cfg.model.encoder.type == "textcnn" and cfg.data.benchmark == "fdu-mtl"


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml: unknown key 'training.lerning_rate'") as e:
        load_config(write(tmp_path, "training:\n  lerning_rate: 0.1\n"))
    assert "did you mean" in str(e.value) or "valid keys" in str(e.value)
    with pytest.raises(ConfigError, match=r"unknown key 'model.encoder.num_filter'.*num_filters"):
        load_config(write(tmp_path, "model:\n  encoder:\n    type: textcnn\n    num_filter: 3\n"))


def test_bad_value_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"training.lr: .*'fast'"):
        load_config(write(tmp_path, "training:\n  lr: fast\n"))
    with pytest.raises(ConfigError, match=r"model.encoder"):
        load_config(write(tmp_path, "model:\n  encoder:\n    type: gpt9\n"))


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:2: invalid YAML"):
        load_config(write(tmp_path, "seed: 1\n  name: x\n"))


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))


def test_overrides(tmp_path):
    cfg = load_config(write(tmp_path, "method: ls\n"), ["training.lr=0.01", "method.reduction=mean", "seed=7"])
    assert cfg.training.lr == 0.01 and cfg.method.params == {"reduction": "mean"} and cfg.seed == 7
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(write(tmp_path, "{}"), ["training.lr"])


def test_method_registry_errors():
    with pytest.raises(ConfigError, match="unknown method 'lss'.*'ls'"):
        make_method("lss")
    with pytest.raises(ConfigError, match="method.reduce: .*'reduction'"):
        make_method("ls", {"reduce": "sum"})
    with pytest.raises(ConfigError, match="reduction"):
        make_method("ls", {"reduction": "median"})


def test_unknown_key_inside_a_list_item_is_named():
    with pytest.raises(ConfigError, match=r"data.custom_tasks.0.colums.*columns"):
        validate_config({"data": {"custom_tasks": [{"name": "x", "files": {"train": "a", "test": "b"}, "colums": {}}]}})


def test_custom_task_requires_train_and_test(tmp_path):
    from textmtl.data.loading import load_tasks

    (tmp_path / "a.csv").write_text("text,label\ngood,pos\nbad,neg\n")
    cfg = validate_config({"data": {"benchmark": None, "custom_tasks": [
        {"name": "x", "files": {"train": str(tmp_path / "a.csv")}}]}})  # checked when read: a dataset may fill it
    with pytest.raises(ConfigError, match="tasks.x.files: a 'test' file is required .or test_fraction"):
        load_tasks(cfg)


def test_metrics_against_hand_computed_values():
    pred, gold = np.array([1, 0, 1, 1, 0]), np.array([1, 0, 0, 1, 1])
    assert accuracy(pred, gold) == 0.6
    assert f1(pred, gold) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # tp=2, fp=1, fn=1
    assert macro_f1(pred, gold) == pytest.approx((2 / 3 + 1 / 2) / 2)  # class 0: tp=1 fp=1 fn=1 -> 1/2
    # MCC: tp=2 tn=1 fp=1 fn=1 -> (2*1 - 1*1)/sqrt(3*3*2*2) = 1/6
    assert mcc(pred, gold) == pytest.approx(1 / 6)
    assert mcc(np.ones(4, int), np.array([1, 0, 1, 0])) == 0.0
    x, y = np.array([0.1, 0.4, 0.2, 0.9]), np.array([1.0, 2.0, 2.5, 4.0])
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
    assert token_accuracy(np.array([1, 2, 3]), np.array([1, -100, 0])) == 0.5

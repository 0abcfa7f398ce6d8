"""Experiment tracking: TensorBoard event files and MLflow runs hold exactly the numbers of history.jsonl."""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from pathlib import Path

import pytest

import textmtl
from textmtl.errors import ConfigError
from textmtl.training import tracking
from textmtl.training.tracking import clean_name, scalars

from ._cli import run_main
from .test_training import toy_config


def events(path: Path):
    """The Event protos of one event file (TFRecord framing: length, its CRC, the data, its CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    data, pos = path.read_bytes(), 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        yield Event.FromString(data[pos + 12:pos + 12 + length])
        pos += 12 + length + 4


def read_tensorboard(logdir: Path) -> dict[str, dict[int, float]]:
    """Every scalar of the event files in `logdir`: {tag: {step: value}}."""
    out: dict[str, dict[int, float]] = defaultdict(dict)
    files = sorted(logdir.glob("events.out.tfevents.*"))
    assert files, f"no event file in {logdir}"
    for path in files:
        for event in events(path):
            for value in event.summary.value:
                out[value.tag][event.step] = value.simple_value
    return dict(out)


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def three_tasks(task_dir: Path, runs: Path, **over) -> dict:
    cfg = toy_config(task_dir, runs, **over)
    files = cfg["data"]["custom_tasks"][0]["files"]
    cfg["data"]["custom_tasks"].append({"name": "toy:c+d", "files": files})  # a name the back-ends clean up
    cfg["training"] = {"steps": 12, "batch_size": 8, "lr": 0.01, "eval_every": 4}
    return cfg


def test_flat_names_of_a_record():
    record = {"job": "pcgrad", "step": 4, "lr": 0.01, "train_loss": {"a": 0.5}, "dev": {"a": {"accuracy": 0.75}},
              "weights": {"a": 1.0}, "gradients": {"tasks": ["a"], "cosine": [[1.0]], "conflicting_pairs": 0.0,
                                                   "gram_condition_number": None},
              "communication": {"architecture": "graph_star", "matrix": [[1.0]]}, "flag": True}
    assert scalars(record) == {"lr": 0.01, "train_loss/a": 0.5, "dev/a/accuracy": 0.75, "weights/a": 1.0,
                               "gradients/conflicting_pairs": 0.0}
    assert scalars({**record, "job": "stl:a"})["a/dev/a/accuracy"] == 0.75  # one job per task: its own prefix


def test_a_failing_tracker_warns_once_and_training_goes_on(tmp_path):
    class Broken(tracking.Tracker):
        name = "broken"
        calls = 0

        def log(self, record):
            Broken.calls += 1
            raise OSError("disk full")

    trackers = tracking.Trackers([Broken()])
    with pytest.warns(RuntimeWarning, match="broken tracking stopped: OSError: disk full"):
        trackers.log({"step": 1, "dev_average": 0.5})
    trackers.log({"step": 2, "dev_average": 0.6})  # dropped: no second call, no second warning
    assert Broken.calls == 1 and trackers.trackers == []


def test_tensorboard_and_mlflow_hold_the_history_records(toy_csv_task, tmp_path):
    pytest.importorskip("tensorboardX")
    pytest.importorskip("mlflow")
    runs = tmp_path / "runs"
    cfg = three_tasks(toy_csv_task, runs, method={"name": "pcgrad"},
                      output={"runs_dir": str(runs), "logging": ["tensorboard", "mlflow"], "log_every": 3})
    run = textmtl.train(cfg, progress=False).path
    records = history(run)
    assert len(records) == 3 and all("gradients" in r for r in records)
    metrics = json.loads((run / "metrics.json").read_text())

    board = read_tensorboard(run / "tensorboard")
    expected: dict[str, dict[int, float]] = defaultdict(dict)
    for r in records:
        for name, value in scalars(r).items():
            expected[clean_name(name)][r["step"]] = value
    # besides the evaluations (steps 4, 8, 12): the training loss every 3 steps, and the final scores
    for task in ("toy_a", "toy_b", "toy_c_d"):
        assert set(board[f"train_loss/{task}"]) == {3, 4, 6, 8, 9, 12}
        assert set(board[f"lr"]) == {3, 4, 6, 8, 9, 12}
        for split in ("dev", "test"):
            name = f"final/{split}/{task}/accuracy"
            original = "toy:c+d" if task == "toy_c_d" else task
            assert board[name] == pytest.approx({12: metrics["tasks"][original][split]["accuracy"]}), name
            expected[name] = board[name]
    expected["final_average/dev"] = {12: metrics["average"]["dev"]}
    expected["final_average/test"] = {12: metrics["average"]["test"]}
    for name in [n for n in board if n.startswith(("train_loss/", "lr"))]:
        expected[name].update({s: v for s, v in board[name].items() if s not in expected[name]})
    assert set(board) == set(expected)
    for name, by_step in expected.items():
        assert board[name] == pytest.approx(by_step, rel=1e-6), name  # event files store float32
    for r in records:  # spelled out for a few values
        assert board["dev/toy_a/accuracy"][r["step"]] == pytest.approx(r["dev"]["toy_a"]["accuracy"])
        assert board["train_loss/toy_c_d"][r["step"]] == pytest.approx(r["train_loss"]["toy:c+d"])
        assert board["gradients/conflicting_pairs"][r["step"]] == pytest.approx(r["gradients"]["conflicting_pairs"])

    from mlflow.tracking import MlflowClient

    saved = json.loads((run / "tracking.json").read_text())
    uri = saved["mlflow"]["tracking_uri"]
    assert uri == f"sqlite:///{(runs / 'mlflow.db').resolve()}" and (runs / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=uri)
    mlrun = client.get_run(saved["mlflow"]["run_id"])
    assert mlrun.info.status == "FINISHED" and mlrun.info.run_name == "toy"
    assert mlrun.data.tags["textmtl.run_dir"] == str(run.resolve())
    assert mlrun.data.params["training.lr"] == "0.01" and mlrun.data.params["method.name"] == "pcgrad"
    assert client.get_experiment(mlrun.info.experiment_id).name == "toy"
    assert set(mlrun.data.metrics) == set(expected)
    for name, by_step in expected.items():
        got = {m.step: m.value for m in client.get_metric_history(mlrun.info.run_id, name)}
        assert got == pytest.approx(by_step, rel=1e-6), name
    assert {m.step: m.value for m in client.get_metric_history(mlrun.info.run_id, "train_loss/toy_c_d")} == \
        pytest.approx(board["train_loss/toy_c_d"], rel=1e-6)
    # the run's files are artefacts, stored beside the MLflow store (not in the working directory)
    location = client.get_experiment(mlrun.info.experiment_id).artifact_location
    assert location == (runs / "mlartifacts").resolve().as_uri()
    names = {f.path for f in client.list_artifacts(mlrun.info.run_id)}
    assert {"config.yaml", "metrics.json", "history.jsonl", "model.json", "report"} <= names
    assert "report/report.html" in {f.path for f in client.list_artifacts(mlrun.info.run_id, "report")}
    stored = runs / "mlartifacts" / mlrun.info.run_id / "artifacts" / "metrics.json"
    assert json.loads(stored.read_text()) == metrics
    assert not (Path.cwd() / "mlruns").exists()


def test_mlflow_file_store_and_one_job_per_task(toy_csv_task, tmp_path):
    pytest.importorskip("mlflow")
    runs, store = tmp_path / "runs", tmp_path / "mlruns"
    cfg = toy_config(toy_csv_task, runs, method="stl", training={"steps": 6, "batch_size": 8, "eval_every": 3},
                     output={"runs_dir": str(runs), "logging": "mlflow", "mlflow_uri": f"file:{store}",
                             "mlflow_experiment": "exp"})
    run = textmtl.train(cfg, progress=False).path
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"file:{store}")
    (found,) = client.search_runs([client.get_experiment_by_name("exp").experiment_id])
    for r in history(run):
        task = r["job"].split(":")[1]
        steps = {m.step: m.value for m in client.get_metric_history(found.info.run_id, f"{task}/dev/{task}/accuracy")}
        assert steps[r["step"]] == r["dev"][task]["accuracy"]


def test_missing_package_fails_before_the_run_directory(toy_csv_task, tmp_path, monkeypatch):
    real = tracking.importlib.util.find_spec
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None if name == "tensorboardX" else real(name))
    runs = tmp_path / "runs"
    cfg = toy_config(toy_csv_task, runs, output={"runs_dir": str(runs), "logging": ["tensorboard"]})
    with pytest.raises(ConfigError, match=r"output.logging: tensorboard needs the package tensorboardX.*"
                                          r"pip install 'textmtl\[tracking\]'"):
        textmtl.train(cfg, progress=False)
    assert not runs.exists() or not any(runs.iterdir())
    config = tmp_path / "c.yaml"
    import yaml

    config.write_text(yaml.safe_dump(cfg))
    code, output = run_main(["train", str(config), "--quiet"])
    assert code == 2 and output.count("\n") == 1 and "pip install 'textmtl[tracking]'" in output


def test_unknown_backend_and_bad_store_are_config_errors(toy_csv_task, tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(ConfigError, match=r"output.logging: unknown tracking back-end 'wandb' \(known: tensorboard"):
        textmtl.train(toy_config(toy_csv_task, runs, output={"logging": ["wandb"]}), progress=False)
    with pytest.raises(ConfigError, match=r"output.mlflow_uri: expected a local MLflow store"):
        textmtl.train(toy_config(toy_csv_task, runs, output={"logging": ["mlflow"], "mlflow_uri": "http://h"}),
                      progress=False)
    assert not runs.exists()


def test_a_resumed_run_goes_on_in_the_same_tensorboard_dir_and_mlflow_run(toy_csv_task, tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    pytest.importorskip("mlflow")
    from tensorboardX.proto.event_pb2 import SessionLog

    from .test_resume import interrupt_at

    runs = tmp_path / "runs"
    cfg = toy_config(toy_csv_task, runs, training={"steps": 12, "eval_every": 4, "checkpoint_every": 6,
                                                   "batch_size": 8, "lr": 0.01},
                     output={"runs_dir": str(runs), "logging": ["tensorboard", "mlflow"],
                             "mlflow_uri": f"file:{tmp_path / 'mlruns'}"})
    with monkeypatch.context() as m:
        interrupt_at(m, 11)  # after the evaluation at step 8, which the checkpoint at step 6 does not hold
        with pytest.raises(KeyboardInterrupt):
            textmtl.train(cfg, progress=False)
    partial = runs / "toy.partial"
    first = json.loads((partial / "tracking.json").read_text())["mlflow"]["run_id"]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"file:{tmp_path / 'mlruns'}")
    assert client.get_run(first).info.status == "KILLED"
    run = textmtl.train(resume=partial, progress=False).path
    records = history(run)
    assert [r["step"] for r in records] == [4, 8, 12]
    assert json.loads((run / "tracking.json").read_text())["mlflow"]["run_id"] == first
    assert client.get_run(first).info.status == "FINISHED"
    values = {m.step: m.value for m in client.get_metric_history(first, "dev_average")}
    assert values == {r["step"]: r["dev_average"] for r in records}
    board = read_tensorboard(run / "tensorboard")
    assert board["dev_average"] == pytest.approx({r["step"]: r["dev_average"] for r in records})
    # the resumed event file tells TensorBoard to drop what the first one logged from step 5 on
    second = max((run / "tensorboard").glob("events.out.tfevents.*"))
    assert any(e.session_log.status == SessionLog.START and e.step == 5 for e in events(second))


def test_a_resume_in_the_same_second_keeps_the_first_event_file(tmp_path, monkeypatch):
    pytest.importorskip("tensorboardX")
    import tensorboardX.event_file_writer as efw

    from textmtl.training.tracking import TensorBoardTracker

    monkeypatch.setattr(efw.time, "time", lambda: 1_700_000_000.25)  # both writers open in the same second
    first = TensorBoardTracker(tmp_path / "tb")
    first.log({"step": 4, "dev_average": 0.5})
    first.close("KILLED", tmp_path)
    second = TensorBoardTracker(tmp_path / "tb", purge_step=5)
    second.log({"step": 8, "dev_average": 0.75})
    second.close("FINISHED", tmp_path)
    assert len(list((tmp_path / "tb").glob("events.out.tfevents.*"))) == 2
    assert read_tensorboard(tmp_path / "tb")["dev_average"] == {4: 0.5, 8: 0.75}

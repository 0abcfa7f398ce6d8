"""Knowledge transfer (issue 20 item 4): `init.from_run` starts the shared encoder from a finished
run; SC (`hard`: the transferred encoder alone) and BC (`shared_private`: beside a fresh private
encoder); frozen layers do not change; a run started from a run reloads its weights exactly."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import textmtl
from textmtl.errors import ConfigError

from .test_training import toy_config


def _source(toy_csv_task, tmp_path):
    cfg = toy_config(toy_csv_task, tmp_path / "runs", training={"steps": 6, "eval_every": 3, "batch_size": 8})
    return textmtl.train(cfg, progress=False, name="source").path


def _target(toy_csv_task, tmp_path, source, architecture="hard", freeze=True):
    files = {s: str(toy_csv_task / f"{s}.csv") for s in ("train", "dev", "test")}
    cfg = toy_config(toy_csv_task, tmp_path / "runs", training={"steps": 6, "eval_every": 3, "batch_size": 8})
    cfg["data"]["custom_tasks"] = [{"name": "new_task", "files": files}]
    cfg["model"]["architecture"] = architecture
    cfg["init"] = {"from_run": str(source), "freeze": freeze}
    return cfg


def _encoder(weights: dict) -> dict:
    return {k: v for k, v in weights.items() if k.startswith("encoder.")}


@pytest.mark.parametrize("architecture", ["hard", "shared_private"])
def test_sc_and_bc_start_from_the_source_encoder_and_keep_it_frozen(toy_csv_task, tmp_path, architecture):
    source = _source(toy_csv_task, tmp_path)
    result = textmtl.train(_target(toy_csv_task, tmp_path, source, architecture), progress=False, name=architecture)
    theirs, ours = load_file(source / "model.safetensors"), load_file(result.path / "model.safetensors")
    assert _encoder(theirs) and _encoder(theirs).keys() == _encoder(ours).keys()
    assert all(torch.equal(theirs[k], ours[k]) for k in _encoder(theirs))  # frozen: unchanged by 6 steps
    assert (result.path / "vocab.json").read_text() == (source / "vocab.json").read_text()  # the source's vocabulary
    width = theirs["encoder.convs.0.weight"].shape[0] * 3  # TextCNN: filters x kernel sizes
    head = ours["heads.new_task.linear.weight"]
    if architecture == "hard":  # SC: the head reads the shared features alone
        assert head.shape[1] == width and not any(k.startswith("private.") for k in ours)
    else:  # BC: shared and private features side by side
        assert head.shape[1] > width and any(k.startswith("private.new_task.") for k in ours)
    record = result.metrics["init"]
    assert record["from_run"] == str(source) and record["freeze"] is True and len(record["sha256"]) == 64
    # the new run reloads on its own, without the source, to the same scores
    shutil.rmtree(source)
    scores = textmtl.api.evaluate(result.path)
    assert scores["average"]["test"] == pytest.approx(result.metrics["average"]["test"])


def test_unfrozen_transfer_starts_equal_and_then_trains(toy_csv_task, tmp_path):
    source = _source(toy_csv_task, tmp_path)
    result = textmtl.train(_target(toy_csv_task, tmp_path, source, freeze=False), progress=False, name="unfrozen")
    theirs, ours = load_file(source / "model.safetensors"), load_file(result.path / "model.safetensors")
    assert any(not torch.equal(theirs[k], ours[k]) for k in _encoder(theirs))
    assert json.loads((result.path / "metrics.json").read_text())["init"]["freeze"] is False


def test_transfer_errors_name_the_key(toy_csv_task, tmp_path):
    source = _source(toy_csv_task, tmp_path)
    cfg = _target(toy_csv_task, tmp_path, tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"^init.from_run: .*not a finished textmtl run"):
        textmtl.train(cfg, progress=False)
    cfg = _target(toy_csv_task, tmp_path, source)
    cfg["model"]["encoder"]["num_filters"] = 4
    with pytest.raises(ConfigError, match=r"another encoder \(model.encoder.num_filters: 8 there, 4 here\)"):
        textmtl.train(cfg, progress=False)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["source"]  # nothing half-written


def test_the_leave_one_domain_out_grid_runs_and_tabulates(data_dir, tmp_path):
    """benchmarks/transfer_grid.py --quick: one 15-domain model (3 domains, 4 steps here) serves SC and BC."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {"PYTHONPATH": str(root / "src"), "TEXTMTL_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    script = str(root / "benchmarks" / "transfer_grid.py")
    args = ["--quick", "--targets", "books", "--architectures", "shared_private", "--runs", str(tmp_path)]
    done = subprocess.run([sys.executable, script, "run", *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "shared_private-bc-books-s1", "shared_private-minus-books-s1", "shared_private-sc-books-s1"]
    init = json.loads((tmp_path / "shared_private-sc-books-s1" / "metrics.json").read_text())["init"]
    assert init["from_run"].endswith("shared_private-minus-books-s1") and init["freeze"] is True
    again = subprocess.run([sys.executable, script, "run", *args], env=env, capture_output=True, text=True, timeout=600)
    assert again.stdout.count("done before") == 1  # the source, with both its targets: nothing is loaded
    table = subprocess.run([sys.executable, script, "table", "--runs", str(tmp_path)], env=env, capture_output=True,
                           text=True, timeout=120).stdout
    books = next(line for line in table.splitlines() if line.startswith("| books |"))
    # ours: SC, BC, in 16 (RESULTS §8's bundle: 16.2) per architecture; adversarial not run here.
    # The paper's: SP-MTL SC, BC (Table 3), in 16 (Table 2), then ASP-MTL's
    assert books.count(" - ") == 2 and "| 16.2 |" in books and "| 17.8 | 16.3 | 18.8 | 16.8 | 16.3 | 16.0 |" in books
    no_bundle = ["--in-domain", str(tmp_path / "no")]
    table = subprocess.run([sys.executable, script, "table", "--runs", str(tmp_path), *no_bundle], env=env,
                           capture_output=True, text=True, timeout=120).stdout
    books = next(line for line in table.splitlines() if line.startswith("| books |"))
    assert books.count(" - ") == 4  # no in-domain bundle: those columns are empty, not an error


def test_an_interrupted_grid_run_continues_from_its_checkpoint(data_dir, tmp_path, monkeypatch, capsys):
    """benchmarks/transfer_grid.py: a source run killed after its first checkpoint is resumed (not
    redone, not refused) by the next `run`, and ends with the weights of an uninterrupted run."""
    from ._scripts import load_benchmark_script
    from .test_resume import interrupt_at

    grid = load_benchmark_script("transfer_grid")
    args = ["run", "--quick", "--targets", "books", "--architectures", "shared_private", "--data-dir", str(data_dir)]
    with monkeypatch.context() as m:
        interrupt_at(m, 4)  # the quick source run has 4 steps and a checkpoint at step 2
        with pytest.raises(KeyboardInterrupt):
            grid.main([*args, "--runs", str(tmp_path / "cut")])
    assert (tmp_path / "cut" / "shared_private-minus-books-s1.partial" / "checkpoint").is_dir()
    capsys.readouterr()
    grid.main([*args, "--runs", str(tmp_path / "cut")])
    assert "shared_private-minus-books-s1: resuming from its last checkpoint" in capsys.readouterr().out
    grid.main([*args, "--runs", str(tmp_path / "whole")])
    for run in ("shared_private-minus-books-s1", "shared_private-sc-books-s1"):
        cut, whole = (load_file(str(tmp_path / d / run / "model.safetensors")) for d in ("cut", "whole"))
        assert cut.keys() == whole.keys() and all(torch.equal(cut[k], whole[k]) for k in cut)


def test_the_grid_survives_the_loss_of_its_runs_directory_through_its_bundle(data_dir, tmp_path):
    """transfer_grid.py --bundle: each finished triple (source, SC, BC) is packed as it finishes; a
    fresh runs directory restores it from the bundle and trains nothing again."""
    import subprocess
    import sys
    from pathlib import Path

    from textmtl.reporting import bundle

    root = Path(__file__).resolve().parents[1]
    env = {"PYTHONPATH": str(root / "src"), "TEXTMTL_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    script = str(root / "benchmarks" / "transfer_grid.py")
    packed = tmp_path / "evidence" / "runs.jsonl.gz"
    args = ["--quick", "--targets", "books", "--architectures", "shared_private", "--bundle", str(packed)]
    first = subprocess.run([sys.executable, script, "run", *args, "--runs", str(tmp_path / "a")], env=env,
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert sorted(bundle.names(packed)) == [
        "shared_private-bc-books-s1", "shared_private-minus-books-s1", "shared_private-sc-books-s1"]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "shared_private-sc-books-s1.partial").mkdir()  # a killed try of a run the bundle has
    again = subprocess.run([sys.executable, script, "run", *args, "--runs", str(tmp_path / "b")], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "restored 1 finished source(s)" in again.stdout and "done before, with its targets" in again.stdout
    restored = sorted(p.name for p in (tmp_path / "b").iterdir() if not p.name.startswith("."))
    assert restored == sorted(bundle.names(packed))
    assert not list((tmp_path / "b").glob("*/model.safetensors"))  # restored, not retrained
    a, b = (json.loads((tmp_path / d / "shared_private-bc-books-s1" / "metrics.json").read_text()) for d in "ab")
    assert a["average"] == b["average"]
    # `save` by hand keeps what the bundle holds even when the runs directory lacks it
    shutil.rmtree(tmp_path / "a")
    (tmp_path / "a").mkdir()
    saved = subprocess.run([sys.executable, script, "save", "--bundle", str(packed), "--runs", str(tmp_path / "a")],
                           env=env, capture_output=True, text=True, timeout=120)
    assert saved.returncode == 0 and "1 finished source(s)" in saved.stdout and len(bundle.names(packed)) == 3
    no_bundle = subprocess.run([sys.executable, script, "save", "--runs", str(tmp_path / "a")], env=env,
                               capture_output=True, text=True, timeout=120)
    assert no_bundle.returncode == 2 and "save needs --bundle FILE" in no_bundle.stderr


def test_the_transfer_table_pairs_its_columns_over_targets(tmp_path):
    """transfer_grid.py table: BC − SC, each against `in 16`, and ours − the paper's, paired over the
    targets both columns have (Student's t over targets: each target has its own source model)."""
    import types

    from ._scripts import load_benchmark_script

    grid = load_benchmark_script("transfer_grid")
    sc = {"books": 20.0, "electronics": 18.0, "dvd": 16.0}
    for target, error in sc.items():
        for channel, gain in (("sc", 0.0), ("bc", {"books": 1.0, "electronics": 2.0, "dvd": 3.0}[target])):
            run = tmp_path / f"shared_private-{channel}-{target}-s1"
            run.mkdir()
            (run / "metrics.json").write_text(json.dumps({"average": {"test": 1 - (error - gain) / 100}}))
    text = grid.table(types.SimpleNamespace(runs=str(tmp_path), in_domain=str(tmp_path / "none")))
    line = next(x for x in text.splitlines() if x.startswith("- shared_private:"))
    # BC − SC = −1, −2, −3: mean −2, s 1, t(0.975, 2) 4.303 → ±2.48; t = −3.46, p 0.074
    assert "BC − SC -2.0 [-4.5, +0.5], p 0.074 (n 3)" in line
    assert "SC − in 16 -" in line  # no in-domain bundle: nothing to pair
    # ours − paper, SC: 20 − 17.8, 18 − 15.3, 16 − 14.8 = 2.2, 2.7, 1.2: mean 2.03
    assert "ours − paper: SC +2.0 [" in line
    assert not any(x.startswith("- adversarial:") for x in text.splitlines())  # not run: no line
    for target, error in sc.items():  # adversarial: one point worse than shared_private, SC and BC alike
        for channel, gain in (("sc", 0.0), ("bc", {"books": 1.0, "electronics": 2.0, "dvd": 3.0}[target])):
            run = tmp_path / f"adversarial-{channel}-{target}-s1"
            run.mkdir()
            (run / "metrics.json").write_text(json.dumps({"average": {"test": 1 - (error + 1 - gain) / 100}}))
    text = grid.table(types.SimpleNamespace(runs=str(tmp_path), in_domain=str(tmp_path / "none")))
    line = next(x for x in text.splitlines() if x.startswith("- adversarial − shared_private:"))
    # three equal differences: no t interval, the sign-flip test (p 2 / 2^3)
    assert line.count("+1.0 (all 3 equal: no interval), sign-flip p 0.25 (n 3)") == 2
    assert "(the paper's: -0.9)" in line  # Table 3: 14.7 − 15.6, 14.3 − 15.2

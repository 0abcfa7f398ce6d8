"""Run bundles (docs/evidence/): packing, unpacking, scrubbing machine paths, and reading them back
through `textmtl summarize` and `textmtl report`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from textmtl.errors import DataError
from textmtl.reporting import bundle

from ._cli import run_main


def fake_run(root: Path, name: str, accuracy: float, *, seed: int = 1) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({
        "name": name, "seed": seed, "output": {"runs_dir": str(root.resolve())},
        "data": {"data_dir": "/srv/someone/data/fdu-mtl"}}))
    (run / "metrics.json").write_text(json.dumps({
        "tasks": {"books": {"dev": {"accuracy": accuracy}, "test": {"accuracy": accuracy}}},
        "average": {"dev": accuracy, "test": accuracy}, "main_metrics": {"books": "accuracy"},
        "method": "ls", "seed": seed, "wall_seconds": 1.0, "steps": 4}))
    (run / "history.jsonl").write_text("".join(json.dumps({"step": s, "dev_average": accuracy}) + "\n"
                                               for s in (2, 4)))
    return run


def test_pack_unpack_round_trip_keeps_the_files_and_scrubs_machine_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = [fake_run(tmp_path / "runs", f"ls-s{s}", 0.8 + s / 100, seed=s) for s in (1, 2)]
    out = tmp_path / "runs.jsonl.gz"
    assert bundle.pack(runs, out, names={"ls-s2": "renamed-s2"}) == 2
    assert bundle.names(out) == ["ls-s1", "renamed-s2"]
    first = out.read_bytes()
    bundle.pack(runs, out, names={"ls-s2": "renamed-s2"})
    assert out.read_bytes() == first  # reproducible bytes: no timestamps
    bundle.pack(runs, tmp_path / "elsewhere.jsonl.gz", names={"ls-s2": "renamed-s2"})
    assert (tmp_path / "elsewhere.jsonl.gz").read_bytes() == first  # nor the file's name
    unpacked = bundle.unpack(out, tmp_path / "back", "ls-*")
    assert [p.name for p in unpacked] == ["ls-s1"]
    assert json.loads((unpacked[0] / "metrics.json").read_text()) == json.loads((runs[0] / "metrics.json").read_text())
    history = [json.loads(line) for line in (unpacked[0] / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history] == [2, 4]
    config = yaml.safe_load((unpacked[0] / "config.yaml").read_text())
    assert config["output"]["runs_dir"] == "runs"  # under the working directory: made relative
    assert config["data"]["data_dir"] == "<abs>/fdu-mtl"  # elsewhere: no machine path survives
    assert str(tmp_path) not in out.read_bytes().decode("latin-1")


def test_update_adds_and_replaces_runs_by_name_and_keeps_the_others(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "evidence" / "runs.jsonl.gz"  # the folder is created
    assert bundle.update([fake_run(tmp_path / "a", "ls-s1", 0.81)], out) == 1
    assert bundle.update([fake_run(tmp_path / "a", "ls-s2", 0.82), fake_run(tmp_path / "b", "ls-s1", 0.5)], out) == 2
    assert bundle.names(out) == ["ls-s1", "ls-s2"]  # sorted by name, one entry per name
    by_name = {e["name"]: e["files"]["metrics.json"]["average"]["test"] for e in bundle.read(out)}
    assert by_name == {"ls-s1": 0.5, "ls-s2": 0.82}  # the later ls-s1 replaced the earlier one
    back = bundle.unpack(out, tmp_path / "back", only={"ls-s2"})
    assert [p.name for p in back] == ["ls-s2"]
    with pytest.raises(DataError, match="not a finished run"):
        bundle.update([tmp_path / "a"], out)
    assert bundle.names(out) == ["ls-s1", "ls-s2"]  # a failed update leaves the bundle as it was


def test_scrub_paths_leaves_relative_paths_and_slashes_in_words_alone():
    text = 'dev/books/accuracy 1/K "/srv/u/x/y.txt" /srv/repo/runs/a'
    assert bundle.scrub_paths(text, Path("/srv/repo")) == 'dev/books/accuracy 1/K "<abs>/y.txt" runs/a'


def test_a_bad_bundle_is_a_one_line_error(tmp_path):
    bad = tmp_path / "x.jsonl.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(DataError, match="not a run bundle"):
        bundle.read(bad)
    with pytest.raises(DataError, match="no such run bundle"):
        bundle.read(tmp_path / "missing.jsonl.gz")


def test_summarize_reads_runs_inside_a_bundle_like_directories(tmp_path):
    runs = [fake_run(tmp_path / "runs", f"ls-s{s}", 0.8 + s / 100, seed=s) for s in (1, 2, 3)]
    out = tmp_path / "runs.jsonl.gz"
    bundle.pack(runs, out)
    code, from_dirs = run_main(["summarize", f"ls={tmp_path}/runs/ls-s*"])
    assert code == 0, from_dirs
    code, from_bundle = run_main(["summarize", f"ls={out}:ls-s*"])
    assert code == 0, from_bundle
    assert from_bundle == from_dirs and "82.0" in from_bundle
    code, printed = run_main(["summarize", f"ls={out}:stl-s*"])
    assert code == 2 and "no finished run directories match" in printed
    code, printed = run_main(["bundle", "list", str(out)])
    assert code == 0 and printed.split() == ["ls-s1", "ls-s2", "ls-s3"]


def test_summarize_compares_every_group_with_the_ls_group(tmp_path):
    for s, (ls, m) in enumerate(((0.80, 0.82), (0.81, 0.84), (0.79, 0.80)), start=1):
        fake_run(tmp_path / "ls", f"ls-s{s}", ls, seed=s)
        fake_run(tmp_path / "m", f"m-s{s}", m, seed=s)
    code, printed = run_main(["summarize", f"ls={tmp_path}/ls/*", f"m={tmp_path}/m/*"])
    assert code == 0, printed
    assert "Paired differences to `ls`" in printed
    row = next(line for line in printed.splitlines() if line.startswith("| m |"))
    assert row.startswith("| m | +2.00 [") and "(n 3)" in row  # differences 0.02, 0.03, 0.01
    code, printed = run_main(["summarize", f"ls={tmp_path}/ls/*", f"m={tmp_path}/m/*", "--baseline", "stl"])
    assert code == 2 and "--baseline: no group labelled 'stl' (groups: ls, m)" in printed
    assert len(printed.strip().splitlines()) == 1  # one line, no half-printed table

"""Run-level faults: a process killed while it writes a checkpoint, metrics.json or publishes the
finished run; a disk that fills up; an output folder that turns read-only. Every case ends in one
line and exit 2 (or the kill), never a half-written run, and `--resume` then gives exactly the
uninterrupted run.

The disk cases mount a small tmpfs as the runs directory and need root (`mount`); they are skipped,
with the reason, elsewhere. The kill cases run everywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

import textmtl
from textmtl.training.run_directory import is_stale

from .test_training import toy_config

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}


def write_config(task_dir: Path, folder: Path) -> Path:
    """pcgrad, 8 steps, an evaluation and a checkpoint every 2 steps, the run at `folder/runs/toy`."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = toy_config(task_dir, folder / "runs", method="pcgrad",
                     training={"steps": 8, "batch_size": 7, "lr": 0.05, "eval_every": 2, "device": "cpu",
                               "num_threads": 1})
    cfg["name"] = "toy"
    (folder / "c.yaml").write_text(yaml.safe_dump(cfg))
    return folder / "c.yaml"


def outcome(run: Path) -> dict:
    """What must equal between two runs: the evaluations, the scores and the weights."""
    history = [{k: v for k, v in json.loads(line).items() if k != "elapsed_seconds"}
               for line in (run / "history.jsonl").read_text().splitlines()]
    metrics = json.loads((run / "metrics.json").read_text())
    weights = {k: v.tolist() for k, v in load_file(str(run / "model.safetensors")).items()}
    return {"history": history, "tasks": metrics["tasks"], "steps": metrics["steps"], "weights": weights}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    from .conftest import write_toy_csv_task

    return write_toy_csv_task(tmp_path_factory.mktemp("task"))


@pytest.fixture(scope="module")
def reference(task_dir, tmp_path_factory):
    """The uninterrupted run."""
    folder = tmp_path_factory.mktemp("reference")
    result = textmtl.train(write_config(task_dir, folder), progress=False)
    return outcome(result.path)


def run_with_fault(config: Path, fault: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tests" / "_fault_worker.py"), str(config), fault],
                          env=ENV, capture_output=True, text=True, timeout=300)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textmtl.cli", *args], env=ENV, capture_output=True, text=True,
                          timeout=300)


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in last, last
    return last


KILLS = [
    "kill-write:3:before",  # checkpoint 2: nothing of it written yet
    "kill-write:3:after",  # its tensors written, its state not: checkpoint 1 still holds
    "kill-write:4:before",  # the same, the state's turn
    "kill-write:4:after",  # its state written, checkpoint 1's tensors not yet cleaned up
    "kill-write:8:after",  # the last checkpoint (step 8) complete
    "kill-metrics",  # metrics.json half written (as its temporary file)
    "kill-commit:rmtree",  # finished, the checkpoint not yet removed
    "kill-commit:unlink",  # the checkpoint removed, the lock file not
    "kill-commit:replace",  # everything but the rename
]


@pytest.mark.parametrize("fault", KILLS)
def test_a_kill_while_writing_the_run_resumes_to_the_uninterrupted_result(task_dir, reference, tmp_path, fault):
    config = write_config(task_dir, tmp_path)
    killed = run_with_fault(config, fault)
    assert killed.returncode == -9, killed.stderr[-3000:]
    runs = tmp_path / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["toy.partial"]  # nothing that looks finished
    partial = runs / "toy.partial"
    assert not is_stale(partial)  # the next run of this name keeps it
    result = textmtl.train(resume=partial, progress=False)
    assert result.path == runs / "toy"
    assert sorted(p.name for p in runs.iterdir()) == ["toy"]
    assert not (runs / "toy" / "checkpoint").exists() and not (runs / "toy" / ".lock").exists()
    assert outcome(result.path) == reference


def test_a_run_killed_while_publishing_is_not_pushed_aside_by_the_next_one(task_dir, tmp_path):
    """The next run of the same name does not remove a finished, unpublished run: it takes `toy-2`."""
    config = write_config(task_dir, tmp_path)
    assert run_with_fault(config, "kill-commit:replace").returncode == -9
    again = cli("train", str(config), "--quiet")
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["toy-2", "toy.partial"]


# ---------------------------------------------------------------- a full disk, a read-only folder


def _mount_rights() -> str | None:
    import tempfile

    if shutil.which("mount") is None:
        return "no mount command"
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    with tempfile.TemporaryDirectory() as probe:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return f"mount -t tmpfs is refused here: {done.stderr.strip()}"
        subprocess.run(["umount", probe], check=False)
    return None


WHY_NOT = _mount_rights()
needs_mount = pytest.mark.skipif(WHY_NOT is not None, reason=f"cannot mount a small disk: {WHY_NOT}")


class SmallDisk:
    """A tmpfs of `size` mounted at `path`, to fill up or turn read-only."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)

    def remount(self, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def small_disk(tmp_path):
    disks: list[SmallDisk] = []

    def make(size: str) -> SmallDisk:
        disks.append(SmallDisk(tmp_path / "runs", size))
        return disks[-1]

    yield make
    for disk in disks:
        disk.unmount()


@needs_mount
@pytest.mark.parametrize("size", ["4k", "40k", "84k", "100k", "124k", "140k", "156k", "400k"])
def test_a_full_disk_is_one_line_and_resumes_once_there_is_room(task_dir, reference, tmp_path, small_disk, size):
    """The run fills the disk somewhere (config, history, a checkpoint, the model, metrics.json,
    depending on the size): one line, exit 2; what is left is nothing or a resumable `.partial`,
    which resumes to the uninterrupted result once the disk is larger."""
    config = write_config(task_dir, tmp_path)
    disk = small_disk(size)
    done = cli("train", str(config), "--quiet")
    runs = tmp_path / "runs"
    if done.returncode == 0:
        assert outcome(runs / "toy") == reference
        return
    last = assert_one_line_error(done, "No space left on device")
    left = sorted(p.name for p in runs.iterdir())
    disk.remount("size=64m")
    if left == []:
        assert "nothing was kept" in last
        return
    assert left == ["toy.partial"] and "--resume" in last, (left, last)
    resumed = cli("train", "--resume", str(runs / "toy.partial"), "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert outcome(runs / "toy") == reference


@needs_mount
@pytest.mark.parametrize("method", ["save_model", "write_metrics"])
def test_a_disk_that_fills_up_at_the_final_save_keeps_the_run_to_resume(task_dir, reference, tmp_path, small_disk,
                                                                        method):
    """The last checkpoint is written, then the disk fills (another program's file) just before the
    model or metrics.json: one line; once that file is gone, --resume ends exactly."""
    config = write_config(task_dir, tmp_path)
    disk = small_disk("4m")
    done = run_with_fault(config, f"fill-before:{method}:{disk.path}")
    assert_one_line_error(done, "No space left on device", "--resume")
    assert sorted(p.name for p in disk.path.iterdir()) == ["filler", "toy.partial"]
    (disk.path / "filler").unlink()
    resumed = cli("train", "--resume", str(disk.path / "toy.partial"), "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert outcome(disk.path / "toy") == reference
    assert sorted(p.name for p in disk.path.iterdir()) == ["toy"]


@needs_mount
def test_an_output_folder_that_turns_read_only_mid_run(task_dir, reference, tmp_path, small_disk):
    """Read-only from step 5 on (after the checkpoint of step 4; see _fault_worker for why that part
    is raised in the process): the checkpoint of step 6 fails; one line that names the cause and the
    resume command. Then the mount itself is read-only: resuming is one line too. Writable again,
    --resume ends exactly as the uninterrupted run."""
    config = write_config(task_dir, tmp_path)
    disk = small_disk("16m")
    done = run_with_fault(config, f"readonly-at-step:5:{disk.path}")
    last = assert_one_line_error(done, "Read-only file system", "--resume")
    disk.remount("ro")
    refused = cli("train", "--resume", str(disk.path / "toy.partial"), "--quiet")
    assert_one_line_error(refused, "Read-only file system")
    disk.remount("rw")
    resumed = cli("train", "--resume", str(disk.path / "toy.partial"), "--quiet")
    assert resumed.returncode == 0, (last, resumed.stderr[-3000:])
    assert outcome(disk.path / "toy") == reference


@needs_mount
def test_a_read_only_runs_directory_stops_before_the_data_is_read(task_dir, tmp_path, small_disk):
    config = write_config(task_dir, tmp_path)
    disk = small_disk("1m")
    disk.remount("ro")
    assert_one_line_error(cli("train", str(config), "--quiet"), "output.runs_dir", "read-only")

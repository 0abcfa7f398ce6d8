"""Worker of tests/test_run_faults.py: `textmtl train CONFIG` in a process that meets a fault at a
chosen moment of writing its run.

    python tests/_fault_worker.py CONFIG FAULT

FAULT is one of
    kill-write:N:before|after   SIGKILL around the N-th atomic write of a checkpoint file (checkpoint k
                                writes its tensors as write 2k-1, then its state as write 2k; "after"
                                the state: before the old tensors are cleaned up)
    kill-metrics                SIGKILL while metrics.json (the last file of a run) is written
    kill-commit:STAGE           SIGKILL while a finished run is published; STAGE: rmtree (before the
                                checkpoint is removed), unlink (checkpoint gone, before the lock file
                                goes), replace (before the rename)
    fill-before:METHOD:DIR      fill the disk under DIR (a file `DIR/filler`) just before RunWriter.METHOD
                                (save_model, write_metrics: the run's last files)
    readonly-at-step:K:DIR      from step K on, every write under DIR fails with EROFS, as on a mount
                                that turned read-only (Linux refuses to remount a file system read-only
                                while a process holds files open for writing, so the failure is raised
                                in this process: open for writing, mkdir, rename, unlink, rmdir)
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def read_only(folder: Path) -> None:
    """Every later write under `folder` fails with EROFS."""
    import builtins
    import errno

    def under(path) -> bool:
        try:
            return Path(os.fsdecode(path)).resolve().is_relative_to(folder)
        except (TypeError, ValueError):
            return False

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") and under(file):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        if writing and kwargs.get("dir_fd") is None and under(path):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    builtins.open, os.open = guarded_open, guarded_os_open  # type: ignore[assignment]
    for name in ("mkdir", "unlink", "remove", "rmdir"):
        real = getattr(os, name)

        def guarded(path, *args, _real=real, **kwargs):
            if kwargs.get("dir_fd") is None and under(path):
                refuse(path)
            return _real(path, *args, **kwargs)

        setattr(os, name, guarded)
    for name in ("replace", "rename"):
        real = getattr(os, name)

        def guarded2(src, dst, *args, _real=real, **kwargs):
            if under(src) or under(dst):
                refuse(dst)
            return _real(src, dst, *args, **kwargs)

        setattr(os, name, guarded2)


def install(fault: str) -> None:
    kind, _, arg = fault.partition(":")
    if kind == "kill-write":
        from textmtl.training import checkpoint

        n, when = arg.split(":")
        real, calls = checkpoint.atomic_write_bytes, [0]

        def counted(path, data, **kw):
            calls[0] += 1
            if calls[0] == int(n) and when == "before":
                die()
            real(path, data, **kw)
            if calls[0] == int(n) and when == "after":
                die()

        checkpoint.atomic_write_bytes = counted  # type: ignore[assignment]
    elif kind == "kill-metrics":
        from textmtl import files

        real_bytes = files.atomic_write_bytes

        def half_then_die(path, data, **kw):
            if Path(path).name == "metrics.json":
                Path(files.tmp_path(Path(path))).write_bytes(data[: len(data) // 2])
                die()
            real_bytes(path, data, **kw)

        files.atomic_write_bytes = half_then_die  # type: ignore[assignment]
    elif kind == "kill-commit":
        from textmtl.training import run_directory

        if arg == "rmtree":
            run_directory.shutil.rmtree = lambda *a, **k: die()  # type: ignore[assignment]
        elif arg in ("unlink", "replace"):
            real_unlink = Path.unlink

            def unlink(self, missing_ok=False):
                if self.name == run_directory.LOCK_FILE and arg == "unlink":
                    die()
                real_unlink(self, missing_ok=missing_ok)
                if self.name == run_directory.LOCK_FILE:
                    die()  # the lock file gone, the rename next

            Path.unlink = unlink  # type: ignore[method-assign]
        else:
            raise SystemExit(f"unknown commit stage {arg}")
    elif kind == "fill-before":
        from textmtl.training import run_directory

        method, folder = arg.split(":", 1)
        real_method = getattr(run_directory.RunWriter, method)

        def fill_first(self, *args, **kwargs):
            with open(Path(folder) / "filler", "wb") as fh:
                try:
                    while True:
                        fh.write(b"\0" * 4096)
                        fh.flush()
                except OSError:
                    pass
            return real_method(self, *args, **kwargs)

        setattr(run_directory.RunWriter, method, fill_first)
    elif kind == "readonly-at-step":
        from textmtl.training.trainer import Trainer

        k, folder = arg.split(":", 1)
        real_step = Trainer.step

        def step(self, n):
            if n == int(k):
                read_only(Path(folder).resolve())
            return real_step(self, n)

        Trainer.step = step  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown fault {fault}")


if __name__ == "__main__":
    install(sys.argv[2])
    from textmtl.cli import main

    sys.argv = ["textmtl", "train", sys.argv[1], "--quiet"]
    main()

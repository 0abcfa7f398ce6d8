"""Worker of tests/test_parallel.py (resume of a multi-process run), started by torchrun.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/_resume_worker.py CONFIG MODE

MODE `full` trains to the end; `stop` trains until the second checkpoint, then every process stops
as a killed run would (the `.partial` directory and its checkpoint stay); `resume` continues it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import textmtl  # noqa: E402
from textmtl.training import checkpoint  # noqa: E402


def stop_at_second_checkpoint() -> None:
    for cls in (checkpoint.RunCheckpoint, checkpoint.RankCheckpoint):
        real = cls.__call__
        calls = {"n": 0}

        def wrapped(self, trainer, fit, real=real, calls=calls):
            real(self, trainer, fit)
            calls["n"] += 1
            if calls["n"] == 2:  # the checkpoint is written: end here as a killed process would (no clean-up),
                os._exit(0)  # but with exit code 0 so that torchrun does not restart or report a failure

        cls.__call__ = wrapped  # type: ignore[method-assign]


def main() -> None:
    config, mode = sys.argv[1], sys.argv[2]
    if mode == "stop":
        stop_at_second_checkpoint()
        textmtl.train(config, progress=False)
        raise SystemExit("expected to stop at the second checkpoint")
    if mode == "resume":
        textmtl.train(resume=str(Path(config).parent / "runs" / "toy.partial"), progress=False)
    else:
        textmtl.train(config, progress=False)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # past gloo's teardown, which sometimes aborts (see textmtl.cli.exit_now)

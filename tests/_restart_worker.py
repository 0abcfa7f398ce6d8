"""Worker of tests/test_parallel.py (restarts), started by `torchrun --max-restarts 1`: trains the
config given; the first process to reach step 5 as rank 1 (after the checkpoint of step 4) kills
itself (SIGKILL), once: a marker file beside the config says it happened. torchrun restarts the group
and `textmtl.train` continues from that checkpoint by itself. (Not keyed on
TORCHELASTIC_RESTART_COUNT: on several machines, one whose processes were healthy restarts them with
its count still 0, and ranks may move between machines.)

    python -m torch.distributed.run --standalone --nproc-per-node 2 --max-restarts 1 tests/_restart_worker.py CONFIG
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import textmtl  # noqa: E402
from textmtl.training.trainer import Trainer  # noqa: E402


def main() -> None:
    marker = Path(sys.argv[1]).parent / "killed-once"
    if os.environ.get("RANK") == "1" and not marker.exists():
        real = Trainer.step

        def step(self, n):
            if n == 5:
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return real(self, n)
                os.kill(os.getpid(), signal.SIGKILL)  # a worker lost mid-run
            return real(self, n)

        Trainer.step = step  # type: ignore[method-assign]
    textmtl.train(sys.argv[1], progress=False)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # past gloo's teardown, which sometimes aborts (see textmtl.cli.exit_now)

"""Worker of tests/test_parallel.py (restarts), started by `torchrun --max-restarts 1`: trains the
config given; on the first attempt rank 1 kills itself (SIGKILL) at step 5, after the checkpoint of
step 4. torchrun restarts the group and `textmtl.train` continues from that checkpoint by itself.

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
    if os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0" and os.environ.get("RANK") == "1":
        real = Trainer.step

        def step(self, n):
            if n == 5:
                os.kill(os.getpid(), signal.SIGKILL)  # a worker lost mid-run
            return real(self, n)

        Trainer.step = step  # type: ignore[method-assign]
    textmtl.train(sys.argv[1], progress=False)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # past gloo's teardown, which sometimes aborts (see textmtl.cli.exit_now)

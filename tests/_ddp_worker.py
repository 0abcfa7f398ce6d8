"""Worker of tests/test_parallel.py, started by torchrun: trains the tiny problem of
`_parallel_setup` with every method named on the command line and saves rank 0's parameters.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/_ddp_worker.py OUT ACCUMULATION METHOD...

With `--model JSON` before the methods: that `model:` block instead of the default TextCNN.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._parallel_setup import config, make_trainer, train_steps  # noqa: E402
from textmtl.training.distributed import process_group  # noqa: E402


def main() -> None:
    out, accumulation, methods = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    model = None
    if methods[:1] == ["--model"]:
        model, methods = json.loads(methods[1]), methods[2:]
    torch.set_num_threads(1)
    with process_group("cpu") as sync:
        for method in methods:
            params = train_steps(make_trainer(config(method, accumulation=accumulation, model=model), sync))
            if sync.is_main:
                save_file({k: v.contiguous() for k, v in params.items()}, str(out / f"{method}.safetensors"))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # past gloo's teardown, which sometimes aborts (see textmtl.cli.exit_now)

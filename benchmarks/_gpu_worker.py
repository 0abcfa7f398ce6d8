"""Worker of benchmarks/gpu_check.py (part `nccl`), started by torchrun: trains the tiny problem of
tests/_parallel_setup on DEVICE (each process its local rank's GPU, NCCL; or the CPU, gloo) with each
method named, and saves rank 0's parameters.

    python -m torch.distributed.run --standalone --nproc-per-node N benchmarks/_gpu_worker.py OUT DEVICE METHOD...
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "src")]

from tests._parallel_setup import config, make_trainer, train_steps  # noqa: E402

from textmtl.training.distributed import local_device, process_group  # noqa: E402


def main() -> None:
    out, device, methods = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    torch.set_num_threads(1)
    with process_group(device) as sync:
        for method in methods:
            cfg = config(method)
            cfg.training.device = local_device(device)
            params = train_steps(make_trainer(cfg, sync))
            if sync.is_main:
                tensors = {k: v.detach().cpu().contiguous() for k, v in params.items()}
                save_file(tensors, str(out / f"{method}.safetensors"))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # past gloo's teardown, which sometimes aborts (see textmtl.cli.exit_now)

"""Worker of benchmarks/gpu_check.py (part `nccl`), started by torchrun: trains the tiny problem of
tests/_parallel_setup on DEVICE (each process its local rank's GPU, NCCL; or the CPU, gloo) with each
method named, and saves rank 0's parameters.

    python -m torch.distributed.run --standalone --nproc-per-node N benchmarks/_gpu_worker.py OUT DEVICE METHOD...
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "src")]

from tests._parallel_setup import config, make_trainer, train_steps  # noqa: E402

from textmtl.training.distributed import init_from_env, local_device, shutdown  # noqa: E402


def main() -> None:
    out, device, methods = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    torch.set_num_threads(1)
    sync = init_from_env(device)
    try:
        for method in methods:
            cfg = config(method)
            cfg.training.device = local_device(device)
            params = train_steps(make_trainer(cfg, sync))
            if sync.is_main:
                save_file(
                    {k: v.detach().cpu().contiguous() for k, v in params.items()}, str(out / f"{method}.safetensors")
                )
    except BaseException:
        shutdown()
        raise
    shutdown(wait_for_peers=True)


if __name__ == "__main__":
    main()

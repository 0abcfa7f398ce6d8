"""Processes: joining and leaving the process group that `torchrun` describes.

How a step is cut into parts (processes x micro-batches) and put back together, and why the result
equals the single-process step, is described in `textmtl.gradients.parts`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta

import torch.distributed as dist

from ..gradients.parts import StepSync

__all__ = ["StepSync", "init_from_env", "local_device", "process_group", "shutdown"]


def init_from_env(device: str) -> StepSync:
    """Join the process group that `torchrun` describes in the environment (gloo on CPU, NCCL on
    CUDA); a plain single process when WORLD_SIZE is unset or 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return StepSync()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
        if restart > 0 and "MASTER_ADDR" in os.environ:
            # a restarted group: the agent's store still holds the dead processes' addresses under the
            # default keys, where gloo would find them (connection refused); this round gets its own prefix
            client = dist.TCPStore(
                os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False,
                timeout=timedelta(minutes=5),
            )  # fmt: skip
            store = dist.PrefixStore(f"textmtl/restart-{restart}", client)
            dist.init_process_group(backend=backend, store=store, rank=int(os.environ["RANK"]), world_size=world)
        else:
            dist.init_process_group(backend=backend)
    return StepSync(world=dist.get_world_size(), rank=dist.get_rank())


def local_device(device: str) -> str:
    """`cuda` becomes this process's GPU (`cuda:LOCAL_RANK`) under torchrun."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


def shutdown(*, wait_for_peers: bool = False) -> None:
    """Leave the process group. `wait_for_peers` (after a normal finish): a barrier first, so no
    process tears its connections down while another is still using them (e.g. rank 0 saving)."""
    if dist.is_available() and dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group(device: str) -> Iterator[StepSync]:
    """`init_from_env` for the block, then `shutdown`: with a barrier after a normal end, without one
    after an error (the other processes may never reach it)."""
    sync = init_from_env(device)
    try:
        yield sync
    except BaseException:
        shutdown()
        raise
    shutdown(wait_for_peers=True)

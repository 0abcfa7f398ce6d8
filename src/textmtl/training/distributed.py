"""Processes: joining and leaving the process group that `torchrun` describes.

How a step is cut into parts (processes x micro-batches) and put back together, and why the result
equals the single-process step, is described in `textmtl.gradients.parts`.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import torch.distributed as dist

from ..gradients.parts import StepSync

__all__ = ["StepSync", "init_from_env", "joined_a_restarted_group", "local_device", "process_group", "shutdown"]


_restarted = False  # whether the group joined last was restarted by torchrun (see `joined_a_restarted_group`)


def init_from_env(device: str) -> StepSync:
    """Join the process group that `torchrun` describes in the environment (gloo on CPU, NCCL on
    CUDA); a plain single process when WORLD_SIZE is unset or 1.

    Under torchrun the processes first meet in the agent's key-value store (`meet`), which gives
    this round of the group keys of its own: torchrun keeps one store for every round of a job, and
    a restarted round that used the default keys would find the dead round's addresses there."""
    global _restarted
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return StepSync()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if "TORCHELASTIC_RUN_ID" in os.environ:
            rank = int(os.environ["RANK"])
            store = dist.TCPStore(
                os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                is_master=rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True",
                timeout=timedelta(minutes=5),
            )  # fmt: skip
            restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
            prefix, _restarted = meet(store, rank, world, restarts)
            dist.init_process_group(backend=backend, store=dist.PrefixStore(prefix, store), rank=rank, world_size=world)
        else:
            _restarted = False
            dist.init_process_group(backend=backend)
    return StepSync(world=dist.get_world_size(), rank=dist.get_rank())


def joined_a_restarted_group() -> bool:
    """True when the process group was formed again by torchrun after a failure (`--max-restarts`)
    on any machine. `TORCHELASTIC_RESTART_COUNT` alone does not tell: torchrun counts restarts per
    machine, and a machine whose processes were healthy restarts them with its count still 0."""
    return _restarted


def meet(
    store: dist.Store, rank: int, world: int, restarts: int, poll: timedelta = timedelta(seconds=2)
) -> tuple[str, bool]:
    """This round's key prefix and whether any process was restarted (`restarts`: this process's
    TORCHELASTIC_RESTART_COUNT), agreed by all `world` processes.

    Rank 0 announces a fresh name under `textmtl/leader`. Every other rank answers under that name
    with a fresh name of its own and its restart count, and waits for rank 0's reply under its own
    name, which no earlier round can have written. A rank that read a dead round's leader gets no
    reply, reads the leader again, and answers the live one. Rank 0 replies with the largest restart
    count, so every rank learns whether any machine restarted."""
    if rank == 0:
        name = uuid.uuid4().hex
        store.set("textmtl/leader", name)
        answers = [store.get(f"textmtl/{name}/join/{r}").decode().split(":") for r in range(1, world)]
        restarted = max([restarts, *(int(count) for _, count in answers)]) > 0
        for nonce, _ in answers:
            store.set(f"textmtl/{name}/go/{nonce}", str(int(restarted)))
        return f"textmtl/{name}", restarted
    nonce = uuid.uuid4().hex
    deadline = time.monotonic() + 300
    while True:
        leader = store.get("textmtl/leader").decode()
        store.set(f"textmtl/{leader}/join/{rank}", f"{nonce}:{restarts}")
        try:
            store.wait([f"textmtl/{leader}/go/{nonce}"], poll)
        except (RuntimeError, dist.DistStoreError):  # no reply: a dead round's leader
            if time.monotonic() > deadline:
                raise
            continue
        return f"textmtl/{leader}", store.get(f"textmtl/{leader}/go/{nonce}").decode() == "1"


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

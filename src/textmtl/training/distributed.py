"""Processes: joining and leaving the process group that `torchrun` describes.

How a step is cut into parts and put back together lives in `textmtl.gradients.parts`; the
notes below describe the whole data-parallel scheme.

A step reads one *global* batch per task (identical on every process: the streams and the task
sampler are seeded alike). Process r of N takes its contiguous share of the rows
(`torch.tensor_split`), and cuts it again into `accumulation_steps` micro-batches. Part m of task
k holds n_km of the n_k labelled units (examples, or tokens for tagging) of the global batch, so
with mean-reduced losses the global task loss is ℓ_k = Σ_m c_km ℓ_km with c_km = n_km / n_k.

Every part's loss reaches the method as a *loss view* (`LossView`): its value is the global loss
ℓ_k (so weights computed from loss values are those of the single-process step), its gradient is
c_km · s · ∇ℓ_km, s being the fp16 loss scale (1 otherwise). Sums of those gradients over the
parts and processes are exactly s · ∇ℓ_k of the global batch. Per-task gradients are computed
locally with `torch.autograd.grad`; nothing goes through DDP's reducer hooks, and the only
collectives are one all-reduce of the K loss values, one of the method's per-task rows (K x P for
the `parameters` back-end) and one of the `.grad` buffers per step (a gradient method writes 1/N of
its combined direction on each of the N processes, so that sum restores it, next to the summed
task-head and auxiliary-loss gradients).

Dropout masks are drawn per process, so with dropout > 0 the processes' steps are statistically,
not bitwise, equal to the single-process step.
"""

from __future__ import annotations

import os

import torch.distributed as dist

from ..gradients.parts import StepSync

__all__ = ["StepSync", "init_from_env", "local_device", "shutdown"]


def init_from_env(device: str) -> StepSync:
    """Join the process group that `torchrun` describes in the environment (gloo on CPU, NCCL on
    CUDA); a plain single process when WORLD_SIZE is unset or 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return StepSync()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
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

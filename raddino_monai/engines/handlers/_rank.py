"""Process-rank helpers shared by the handlers: side effects (files, logs) happen on rank 0 only, and stop decisions
are agreed by all ranks (one rank raising alone would leave the others waiting in the next collective)."""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["is_main_process", "is_distributed", "ranks_with"]


def is_distributed() -> bool:
    """Whether a ``torch.distributed`` process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def is_main_process() -> bool:
    """True without a process group, else True on rank 0 only."""
    return not is_distributed() or dist.get_rank() == 0


def ranks_with(flag: bool) -> list[int]:
    """The ranks whose ``flag`` is true (a collective: every rank must call it at the same point).

    Without a process group: ``[0]`` if ``flag`` else ``[]``. With one, the flags are all-reduced as a one-hot vector
    (on the current CUDA device for NCCL, on the CPU otherwise), so every rank gets the same list.
    """
    if not is_distributed():
        return [0] if flag else []
    world, rank = dist.get_world_size(), dist.get_rank()
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    flags = torch.zeros(world, device=device)
    flags[rank] = float(bool(flag))
    dist.all_reduce(flags, op=dist.ReduceOp.SUM)
    return [r for r, v in enumerate(flags.tolist()) if v > 0]

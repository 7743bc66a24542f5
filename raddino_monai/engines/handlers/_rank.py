"""Process-rank helper shared by the handlers: side effects (files, logs) happen on rank 0 only."""

from __future__ import annotations

import torch.distributed as dist

__all__ = ["is_main_process"]


def is_main_process() -> bool:
    """True without a process group, else True on rank 0 only."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0

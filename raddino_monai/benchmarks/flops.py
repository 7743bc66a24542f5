"""FLOPs of one SSL step counted with ``torch.utils.flop_counter.FlopCounterMode``, and the step's saved activations.

``FlopCounterMode`` counts matmuls, convolutions and CUDA attention kernels, but not the CPU flash-attention kernel
that ``scaled_dot_product_attention`` dispatches to here; :data:`CPU_SDPA_FORMULAS` adds it (``custom_mapping``, no
global registration) with torch's own SDPA formulas, so attention FLOPs are counted on every device.

Example:
    >>> lin = torch.nn.Linear(8, 4)
    >>> count_flops(lambda: lin(torch.randn(2, 8)).sum().backward())
    256
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils import flop_counter

__all__ = ["CPU_SDPA_FORMULAS", "count_flops", "saved_tensor_bytes", "training_state_bytes"]

_ATEN = torch.ops.aten


def _sdpa_forward(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)


def _sdpa_backward(
    grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out, query, key, value)


#: the CPU flash-attention ops (forward, backward) -> FLOP formulas (arguments arrive as shapes)
CPU_SDPA_FORMULAS: dict[Any, Callable[..., int]] = {
    _ATEN._scaled_dot_product_flash_attention_for_cpu: _sdpa_forward,
    _ATEN._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_backward,
}


def count_flops(fn: Callable[[], Any]) -> int:
    """Total FLOPs (multiply-add = 2) of the tensor ops run by ``fn()``, forward and backward.

    Args:
        fn: e.g. one forward + backward of the SSL model.

    Returns:
        the count from ``FlopCounterMode`` with :data:`CPU_SDPA_FORMULAS`.
    """
    with flop_counter.FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FORMULAS) as counter:
        fn()
    return int(counter.get_total_flops())


@contextmanager
def saved_tensor_bytes(record: dict[str, int], exclude: Iterable[torch.Tensor] = ()):  # type: ignore[no-untyped-def]
    """Record in ``record["bytes"]`` the size of the distinct storages autograd saves for backward in the block.

    That is the activation memory of the step (what grows with image size and batch); storages are counted once
    however many tensors view them. Pass the parameters as ``exclude``: saved by reference, they are part of
    :func:`training_state_bytes` (autocast's low-precision weight copies are not, and count here).

    Example:
        >>> rec = {}
        >>> with saved_tensor_bytes(rec):
        ...     _ = (torch.randn(4, 4, requires_grad=True) * 2).sum()
        >>> rec["bytes"] >= 0
        True
    """
    seen: dict[int, int] = {}
    skip = {t.untyped_storage().data_ptr() for t in exclude}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        try:
            yield record
        finally:
            record["bytes"] = int(sum(seen.values()))


def training_state_bytes(student: torch.nn.Module, teacher: torch.nn.Module, optimizer_states: int = 2) -> int:
    """Bytes of student parameters + gradients + AdamW moments (``optimizer_states``) + teacher parameters."""
    student_bytes = sum(p.numel() * p.element_size() for p in student.parameters() if p.requires_grad)
    teacher_bytes = sum(p.numel() * p.element_size() for p in teacher.parameters())
    return int(student_bytes * (2 + optimizer_states) + teacher_bytes)

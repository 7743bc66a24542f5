"""Teacher EMA update: ``teacher = m * teacher + (1 - m) * student`` over matching parameters ([DV2]).

[DV2] ``SSLMetaArch.update_teacher`` does ``torch._foreach_mul_(teacher, m)`` then
``torch._foreach_add_(teacher, student, alpha=1 - m)`` over every student/teacher submodule (backbone and heads);
the same fused ops are used here, grouped by device and dtype. Buffers (e.g. BatchNorm statistics)
are copied from the student; DINOv2's ViT has none. :class:`TeacherEMA` matches the tensors once and keeps the
lists (the per-step cost is then the two foreach calls; ``docs/performance.md`` measures it against the one-off
:func:`update_ema`).

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/train/ssl_meta_arch.py: update_teacher``.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor, nn

__all__ = ["TeacherEMA", "update_ema", "check_same_structure"]


def check_same_structure(teacher: nn.Module, student: nn.Module) -> None:
    """Raise if the two modules' parameters or buffers differ in names or shapes.

    Raises:
        ValueError: listing the names only in the teacher, only in the student, and shape mismatches.
    """
    for kind, t_items, s_items in (
        ("parameters", dict(teacher.named_parameters()), dict(student.named_parameters())),
        ("buffers", dict(teacher.named_buffers()), dict(student.named_buffers())),
    ):
        only_t, only_s = sorted(set(t_items) - set(s_items)), sorted(set(s_items) - set(t_items))
        shapes = [
            f"{k}: teacher {tuple(t_items[k].shape)} vs student {tuple(s_items[k].shape)}"
            for k in sorted(set(t_items) & set(s_items))
            if t_items[k].shape != s_items[k].shape
        ]
        if only_t or only_s or shapes:
            raise ValueError(
                f"Teacher and student {kind} differ. Only in teacher: {only_t}; only in student: {only_s}; "
                f"shape mismatches: {shapes}."
            )


def _identity(teacher: nn.Module, student: nn.Module) -> tuple[int, ...]:
    """Ids of every parameter and buffer of both modules (changes when e.g. FSDP or ``to_empty`` swaps them)."""
    return tuple(id(t) for module in (teacher, student) for t in (*module.parameters(), *module.buffers()))


class TeacherEMA:
    """Cached foreach EMA of ``student`` into ``teacher`` (what :meth:`StudentTeacher.update_teacher` calls each step).

    The structure check and the name matching run once, here; each call is then one ``torch._foreach_mul_`` and one
    ``torch._foreach_add_`` per (device, dtype) group ([DV2] ``update_teacher``): the same arithmetic, bit for bit,
    as the per-parameter ``t.mul_(m).add_(s, alpha=1 - m)``. :meth:`matches` tells whether the cached tensors are
    still the modules' own (rebuild when not).

    Args:
        teacher: EMA model (updated in place).
        student: trained model with the same structure.

    Raises:
        ValueError: the structures differ (names listed).

    Example:
        >>> student = nn.Linear(4, 2); teacher = nn.Linear(4, 2)
        >>> ema = TeacherEMA(teacher, student); ema(0.992); ema.matches(teacher, student)
        True
    """

    def __init__(self, teacher: nn.Module, student: nn.Module) -> None:
        check_same_structure(teacher, student)
        student_params = dict(student.named_parameters())
        groups: dict[tuple[torch.device, torch.dtype], tuple[list[Tensor], list[Tensor]]] = defaultdict(
            lambda: ([], [])
        )
        for name, t_param in teacher.named_parameters():
            t_list, s_list = groups[(t_param.device, t_param.dtype)]
            t_list.append(t_param)
            s_list.append(student_params[name])
        self._groups = [(key, t_list, s_list) for key, (t_list, s_list) in groups.items()]
        student_buffers = dict(student.named_buffers())
        self._buffers = [(t_buf, student_buffers[name]) for name, t_buf in teacher.named_buffers()]
        self._identity = _identity(teacher, student)

    def matches(self, teacher: nn.Module, student: nn.Module) -> bool:
        """True while the cached parameters and buffers are those of ``teacher`` and ``student``."""
        return self._identity == _identity(teacher, student)

    @torch.no_grad()
    def __call__(self, momentum: float) -> None:
        """``teacher <- m * teacher + (1 - m) * student``; buffers copied from the student.

        Raises:
            ValueError: ``momentum`` outside [0, 1].
        """
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"EMA momentum must be in [0, 1], found {momentum}.")
        for (device, dtype), t_list, s_list in self._groups:
            sources = [s if s.device == device and s.dtype == dtype else s.to(device, dtype) for s in s_list]
            torch._foreach_mul_(t_list, momentum)
            torch._foreach_add_(t_list, sources, alpha=1.0 - momentum)
        for t_buf, s_buf in self._buffers:
            t_buf.copy_(s_buf)


def update_ema(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In-place EMA of ``student`` into ``teacher``; parameters matched by name (one-off :class:`TeacherEMA`).

    Args:
        teacher: EMA model (updated in place; its parameters need not require grad).
        student: trained model with the same structure.
        momentum: ``m`` in [0, 1]; 1 keeps the teacher, 0 copies the student (schedule value, [DV2] 0.992 -> 1).

    Raises:
        ValueError: ``momentum`` outside [0, 1], or the structures differ (names listed).

    Example:
        >>> student = nn.Linear(4, 2); teacher = nn.Linear(4, 2)
        >>> update_ema(teacher, student, momentum=0.992)
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], found {momentum}.")
    TeacherEMA(teacher, student)(momentum)

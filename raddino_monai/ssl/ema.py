"""Teacher EMA update: ``teacher = m * teacher + (1 - m) * student`` over matching parameters ([DV2]).

[DV2] ``SSLMetaArch.update_teacher`` does ``torch._foreach_mul_(teacher, m)`` then
``torch._foreach_add_(teacher, student, alpha=1 - m)`` over every student/teacher submodule (backbone and heads);
the same fused ops are used here, grouped by device and dtype. Buffers (e.g. BatchNorm statistics)
are copied from the student; DINOv2's ViT has none.

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/train/ssl_meta_arch.py: update_teacher``.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor, nn

__all__ = ["update_ema", "check_same_structure"]


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


@torch.no_grad()
def update_ema(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In-place EMA of ``student`` into ``teacher``; parameters matched by name.

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
    check_same_structure(teacher, student)
    student_params = dict(student.named_parameters())
    groups: dict[tuple[torch.device, torch.dtype], tuple[list[Tensor], list[Tensor]]] = defaultdict(lambda: ([], []))
    for name, t_param in teacher.named_parameters():
        s_param = student_params[name]
        t_list, s_list = groups[(t_param.device, t_param.dtype)]
        t_list.append(t_param)
        s_list.append(s_param.to(device=t_param.device, dtype=t_param.dtype))
    for t_list, s_list in groups.values():
        torch._foreach_mul_(t_list, momentum)
        torch._foreach_add_(t_list, s_list, alpha=1.0 - momentum)
    student_buffers = dict(student.named_buffers())
    for name, t_buf in teacher.named_buffers():
        t_buf.copy_(student_buffers[name])

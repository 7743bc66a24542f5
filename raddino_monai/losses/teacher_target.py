"""TeacherTargetLoss: the base of the DINO and iBOT losses, which owns the teacher centering.

Both cross-entropy losses turn teacher logits into target probabilities the same way (a centering from
:mod:`.centering`, chosen by its [DV2] ``train.centering`` name) and share the student temperature; this module
holds that shared part, each loss module (:mod:`.dino_clstoken`, :mod:`.ibot_patch`) its own cross-entropy.

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/loss/dino_clstoken_loss.py``, ``ibot_patch_loss.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raddino_monai.losses.centering import build_centering

__all__ = ["TeacherTargetLoss"]


class TeacherTargetLoss(nn.Module):
    """Base of the DINO / iBOT losses: owns the teacher centering and turns teacher logits into targets.

    Subclasses implement ``forward`` (the student/teacher cross-entropy); this class holds the shared
    ``student_temp``, the centering built by :func:`build_centering` (attribute ``centering``, so the softmax centre
    is the state-dict entry ``centering.center``) and :meth:`teacher_probs`.

    Args:
        out_dim: number of prototypes ``K``.
        student_temp: student temperature ``> 0`` ([DV2] 0.1).
        centering: ``"centering"`` ([DV2] default) or ``"sinkhorn_knopp"``.
        center_momentum: centre EMA momentum for ``"centering"`` ([DV2] 0.9).
        sinkhorn_iterations: rounds for ``"sinkhorn_knopp"`` ([DV2] 3).

    Raises:
        ValueError: unknown ``centering`` (valid values listed) or ``student_temp <= 0``.
    """

    def __init__(
        self,
        out_dim: int = 65536,
        student_temp: float = 0.1,
        centering: str = "centering",
        center_momentum: float = 0.9,
        sinkhorn_iterations: int = 3,
    ) -> None:
        super().__init__()
        if not student_temp > 0:
            raise ValueError(f"student_temp must be > 0, found {student_temp}.")
        self.out_dim = out_dim
        self.student_temp = student_temp
        self.centering_name = centering
        self.centering = build_centering(centering, out_dim, center_momentum, sinkhorn_iterations)

    @torch.no_grad()
    def teacher_probs(self, teacher_logits: Tensor, teacher_temp: float, update_center: bool = True) -> Tensor:
        """Teacher target probabilities.

        With softmax centering the centre of the previous batches is used, then (``update_center``) this batch is
        folded into it; Sinkhorn-Knopp normalises over all rows of all ranks jointly.

        Args:
            teacher_logits: ``(..., K)`` teacher head outputs (see the subclass for the expected layout).
            teacher_temp: teacher temperature (schedule value; [DV2] 0.04 -> 0.07).
            update_center: update the softmax centre with this batch (ignored by Sinkhorn-Knopp).

        Returns:
            float32 probabilities with the shape of ``teacher_logits``.
        """
        probs = self.centering(teacher_logits, teacher_temp)
        if update_center:
            self.centering.update(teacher_logits)
        return probs

    def extra_repr(self) -> str:
        return f"out_dim={self.out_dim}, student_temp={self.student_temp}, centering={self.centering_name!r}"

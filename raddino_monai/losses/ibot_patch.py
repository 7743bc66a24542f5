"""iBOT masked-patch loss: student predictions at masked positions against the (unmasked) teacher's patch tokens.

Normalisation ([DV2] ``iBOTPatchLoss.forward_masked`` and ``SSLMetaArch.forward_backward``): with ``M`` masked
patches over ``n_images`` global-crop images (masked and unmasked images both count),

    ``loss = -(1 / n_images) * sum_m w_m * sum_k p_t[m, k] * log_softmax(s[m] / T_s)[k]``,

where ``w_m = 1 / n_masked(image of m)`` (``masks_weight`` from the collate), so each masked image contributes the
mean over its masked patches. DINOv2 then multiplies by ``loss_scales = 2`` and ``ibot_loss_scale = 1/2`` (net 1).

Deviations from DINOv2, both fixing padding artefacts of its fixed-size ``upperbound`` buffer:

* the softmax centre is the mean over the ``M`` masked tokens (all ranks), not over the zero-padded buffer;
* Sinkhorn-Knopp runs over the ``M`` masked tokens only, not the padded ``upperbound`` rows.

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/loss/ibot_patch_loss.py``, ``train/ssl_meta_arch.py``.
    - [0] Zhou et al., iBOT, 2021, https://arxiv.org/abs/2111.07832.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from raddino_monai.losses.teacher_target import TeacherTargetLoss

__all__ = ["IBOTPatchLoss"]


class IBOTPatchLoss(TeacherTargetLoss):
    """iBOT patch loss with softmax centering or Sinkhorn-Knopp teacher targets.

    Args:
        out_dim: number of prototypes ``K`` (RAD-DINO shares the DINO head, [DV2] ``ibot.separate_head: false``).
        student_temp: student temperature ([DV2] 0.1).
        centering: ``"centering"`` ([DV2] default) or ``"sinkhorn_knopp"``.
        center_momentum: centre EMA momentum ([DV2] 0.9).
        sinkhorn_iterations: Sinkhorn-Knopp rounds ([DV2] 3).

    Raises:
        ValueError: unknown ``centering`` (valid values listed) or ``student_temp <= 0``.

    Example:
        >>> loss_fn = IBOTPatchLoss(out_dim=16)
        >>> masks = torch.zeros(4, 9, dtype=torch.bool); masks[0, :3] = True; masks[2, 4:6] = True
        >>> weights = (1 / masks.sum(-1).clamp(min=1)).unsqueeze(-1).expand_as(masks)[masks]   # (M,)
        >>> teacher = loss_fn.teacher_probs(torch.randn(5, 16), teacher_temp=0.04)
        >>> loss = loss_fn(torch.randn(5, 16), teacher, weights, n_images=4)
    """

    @torch.no_grad()
    def teacher_probs(self, teacher_logits: Tensor, teacher_temp: float, update_center: bool = True) -> Tensor:
        """Teacher targets for the masked patches.

        Args:
            teacher_logits: ``(M, K)`` teacher head outputs at the masked positions (teacher input unmasked).
            teacher_temp: teacher temperature (schedule value).
            update_center: fold this batch's mean into the softmax centre (ignored by Sinkhorn-Knopp).

        Returns:
            float32 ``(M, K)`` probabilities.
        """
        if teacher_logits.ndim != 2:
            raise ValueError(f"teacher_logits must be (M, K), found shape {tuple(teacher_logits.shape)}.")
        return super().teacher_probs(teacher_logits, teacher_temp, update_center)

    def forward(self, student_logits: Tensor, teacher_probs: Tensor, masks_weight: Tensor, n_images: int) -> Tensor:
        """Weighted masked-patch cross-entropy (see module docstring for the normalisation).

        Args:
            student_logits: ``(M, K)`` student head outputs at the masked positions (student input masked).
            teacher_probs: ``(M, K)`` teacher targets at the same positions, same order.
            masks_weight: ``(M,)`` weight of each masked patch, ``1 / n_masked`` of its image.
            n_images: number of global-crop images in the (local) batch, masked or not (``masks.shape[0]``).

        Returns:
            scalar loss (float32); 0 (still attached to ``student_logits``) when ``M == 0``.

        Raises:
            ValueError: shape mismatches or ``n_images < 1``.
        """
        if student_logits.ndim != 2 or student_logits.shape != teacher_probs.shape:
            raise ValueError(
                f"student_logits {tuple(student_logits.shape)} and teacher_probs {tuple(teacher_probs.shape)} must "
                f"both be (M, K={self.out_dim})."
            )
        if student_logits.shape[-1] != self.out_dim:
            raise ValueError(f"Expected K={self.out_dim} prototypes, found {student_logits.shape[-1]}.")
        if masks_weight.shape != student_logits.shape[:1]:
            raise ValueError(
                f"masks_weight must be (M,) = ({student_logits.shape[0]},), found {tuple(masks_weight.shape)}."
            )
        if n_images < 1:
            raise ValueError(f"n_images must be >= 1, found {n_images}.")
        log_p = F.log_softmax(student_logits.float() / self.student_temp, dim=-1)
        per_patch = torch.sum(teacher_probs.float() * log_p, dim=-1)  # (M,)
        return -(per_patch * masks_weight.float()).sum() / n_images

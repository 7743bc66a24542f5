"""DINO loss on the CLS token: cross-entropy between teacher global views and every other student view.

Normalisation (identical to [DV2] ``train/ssl_meta_arch.py: forward_backward``): with ``G`` teacher (global) views
and ``V = G + n_local`` student views, the loss is the mean, over the ``P = G * (V - 1)`` pairs
``(teacher view g, student view v)`` with ``v != g``, of the batch-mean cross-entropy

    ``CE(g, v) = -(1/B) * sum_b sum_k p_t[g, b, k] * log_softmax(s[v, b] / T_s)[k]``.

For 2 global + 8 local crops, ``P = 2 * 1 + 2 * 8 = 18``: DINOv2 computes the 16 local pairs ``/ 18`` and the
global term with the teacher's two views swapped (``cat(t[1], t[0])``, so student crop A meets teacher crop B),
averaged over ``2B`` rows and scaled by ``2 / 18``; the sum of both is exactly the mean over these 18 pairs. Here the
teacher probabilities are given in their natural view order and the swap is the ``v != g`` exclusion.

References:
    - [DV2] facebookresearch/dinov2 @ b8931f7, ``dinov2/loss/dino_clstoken_loss.py``, ``train/ssl_meta_arch.py``.
    - [0] Caron et al., DINO, 2021, https://arxiv.org/abs/2104.14294.
    - lightly ``DINOLoss`` (same pair exclusion and ``n_terms * B`` normalisation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from raddino_monai.losses.teacher_target import TeacherTargetLoss

__all__ = ["DINOClsTokenLoss", "as_view_list"]


def as_view_list(x: Tensor | Sequence[Tensor], name: str) -> list[Tensor]:
    """Turn a per-view list of ``(B, K)`` tensors, or a stacked ``(V, B, K)`` tensor, into a list of ``(B, K)``.

    Raises:
        ValueError: a 2-D tensor was given (ambiguous: use ``x.chunk(n_views)``), or the views differ in shape.
    """
    if isinstance(x, Tensor):
        if x.ndim != 3:
            raise ValueError(
                f"{name} must be a list of (B, K) tensors or a stacked (V, B, K) tensor, found a tensor of shape "
                f"{tuple(x.shape)}; split a view-major (V*B, K) tensor with .chunk(V)."
            )
        views = list(x.unbind(0))
    else:
        views = list(x)
    if not views:
        raise ValueError(f"{name} is empty; expected at least one (B, K) view.")
    shapes = {tuple(v.shape) for v in views}
    if len(shapes) != 1 or views[0].ndim != 2:
        raise ValueError(f"{name}: every view must be (B, K) with the same shape, found shapes {sorted(shapes)}.")
    return views


class DINOClsTokenLoss(TeacherTargetLoss):
    """DINO CLS-token loss with softmax centering or Sinkhorn-Knopp teacher targets.

    :meth:`teacher_probs` (from :class:`~raddino_monai.losses.teacher_target.TeacherTargetLoss`) takes the ``(G * B, K)``
    view-major teacher head outputs of the global crops (or ``(G, B, K)``).

    Args:
        out_dim: number of prototypes ``K`` ([DV2] ``dino.head_n_prototypes`` 65536; RAD-DINO head [CARD]).
        student_temp: student temperature ([DV2] 0.1).
        centering: ``"centering"`` ([DV2] default) or ``"sinkhorn_knopp"``; see
            :mod:`raddino_monai.losses.centering`.
        center_momentum: centre EMA momentum for ``"centering"`` ([DV2] 0.9).
        sinkhorn_iterations: rounds for ``"sinkhorn_knopp"`` ([DV2] 3).

    Raises:
        ValueError: unknown ``centering`` (valid values listed) or ``student_temp <= 0``.

    Example:
        >>> loss_fn = DINOClsTokenLoss(out_dim=16)
        >>> teacher = loss_fn.teacher_probs(torch.randn(2 * 4, 16), teacher_temp=0.04)   # (2B, K), view-major
        >>> student = torch.randn(10, 4, 16)                                              # 2 global + 8 local views
        >>> loss = loss_fn(student, teacher.chunk(2))
    """

    def forward(self, student_logits: Tensor | Sequence[Tensor], teacher_probs: Tensor | Sequence[Tensor]) -> Tensor:
        """Mean cross-entropy over the ``G * (V - 1)`` (teacher view, other student view) pairs.

        Args:
            student_logits: ``V`` student views, each ``(B, K)`` (list, or stacked ``(V, B, K)``); the first ``G``
                are the global views in the same order as ``teacher_probs``, the rest are local views.
            teacher_probs: ``G`` teacher target views, each ``(B, K)`` (list, or stacked ``(G, B, K)``; for a
                view-major ``(G * B, K)`` tensor pass ``t.chunk(G)``).

        Returns:
            scalar loss (float32).

        Raises:
            ValueError: shape mismatches, ``V < G``, or no pair (a single global view and no local view).
        """
        students = as_view_list(student_logits, "student_logits")
        teachers = as_view_list(teacher_probs, "teacher_probs")
        n_global, n_views = len(teachers), len(students)
        if students[0].shape != teachers[0].shape or students[0].shape[-1] != self.out_dim:
            raise ValueError(
                f"student views {tuple(students[0].shape)} and teacher views {tuple(teachers[0].shape)} must both be "
                f"(B, K={self.out_dim})."
            )
        if n_views < n_global:
            raise ValueError(f"Got {n_views} student views for {n_global} teacher views; the first G must be global.")
        pair_mask = torch.ones(n_global, n_views, device=students[0].device)
        pair_mask[:, :n_global].fill_diagonal_(0.0)
        n_pairs = pair_mask.sum()
        if n_pairs == 0:
            raise ValueError("No (teacher view, other student view) pair: need >= 2 global views or local views.")
        # fp32 with autocast off: under bf16 autocast the einsum (a matmul) would otherwise run in bf16
        with torch.autocast(device_type=students[0].device.type, enabled=False):
            log_p = torch.stack([F.log_softmax(s.float() / self.student_temp, dim=-1) for s in students])  # (V,B,K)
            t = torch.stack([p.float() for p in teachers])  # (G, B, K)
            ce = -torch.einsum("gbk,vbk->gv", t, log_p) / t.shape[1]  # (G, V) batch-mean cross-entropies
            return (ce * pair_mask).sum() / n_pairs

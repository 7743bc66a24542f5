"""Frozen backbone + trainable segmentation head as one ``nn.Module`` (also the segmentation bundle's network)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .features import freeze_backbone
from .heads import create_head

__all__ = ["default_layer_indices", "FrozenSegmentationModel"]


def default_layer_indices(num_layers: int, num_inputs: int) -> tuple[int, ...]:
    """Backbone blocks feeding a head (1-based): the last block for one input; for 4 inputs on a 12-block ViT the
    contract default (4, 6, 9, 12) ([TF] ``Dinov2Backbone`` / mmseg ViT recipes take 4 evenly spread blocks);
    otherwise evenly spaced blocks ending at the last one.

    Example:
        >>> default_layer_indices(12, 4), default_layer_indices(6, 4), default_layer_indices(12, 1)
        ((4, 6, 9, 12), (2, 3, 5, 6), (12,))
    """
    if num_inputs == 4 and num_layers == 12:
        return (4, 6, 9, 12)
    return tuple(max(1, math.ceil(num_layers * (i + 1) / num_inputs)) for i in range(num_inputs))


class FrozenSegmentationModel(nn.Module):
    """``(B, 3, H, W) -> logits (B, C, H, W)``: frozen backbone maps -> head -> bilinear upsampling to the input size.

    Only the head trains: the backbone has ``requires_grad=False``, stays in eval mode even under ``train()``, and its
    features are computed under ``torch.no_grad()``.

    Args:
        backbone: a backbone module, or a name for :func:`raddino_monai.models.create_backbone` (random init; load
            weights from a checkpoint).
        head: head name (``linear``, ``vitdet``, ``upernet``; :data:`.heads.SEGMENTATION_HEADS`).
        num_classes: output channels (softmax: classes incl. background; sigmoid: structures).
        layer_indices: 1-based backbone blocks fed to the head; default :func:`default_layer_indices`.
        head_kwargs: extra head arguments (e.g. ``{"channels": 256}``).

    Raises:
        ValueError: unknown head or a wrong number of ``layer_indices``.

    Example::

        >>> net = FrozenSegmentationModel("tiny_vit_p14", "upernet", 2, head_kwargs={"channels": 8, "neck_channels": 8})
        >>> net(torch.rand(2, 3, 56, 56)).shape
        torch.Size([2, 2, 56, 56])
    """

    def __init__(
        self,
        backbone: nn.Module | str,
        head: str = "upernet",
        num_classes: int = 2,
        layer_indices: Sequence[int] | None = None,
        head_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(backbone, str):
            from raddino_monai.models import create_backbone

            backbone = create_backbone(backbone)
        self.backbone = freeze_backbone(backbone)
        self.head = create_head(head, int(backbone.embed_dim), int(num_classes), **dict(head_kwargs or {}))
        n_inputs = int(self.head.num_inputs)
        default = default_layer_indices(backbone.num_layers, n_inputs)
        indices = tuple(layer_indices) if layer_indices is not None else default
        if len(indices) != n_inputs:
            raise ValueError(
                f"head {head!r} takes {n_inputs} feature maps; layer_indices={indices} has {len(indices)}."
            )
        self.layer_indices = indices

    def train(self, mode: bool = True) -> FrozenSegmentationModel:
        """Set the head's mode; the backbone always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normed patch maps ``(B, D, h, w)`` of :attr:`layer_indices`, without autograd."""
        with torch.no_grad():
            return self.backbone.forward_intermediates(x, indices=self.layer_indices, norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C, H, W)`` at the input resolution."""
        logits = self.head(self.features(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)

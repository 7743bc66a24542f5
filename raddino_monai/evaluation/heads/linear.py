"""Linear segmentation head: BatchNorm + 1x1 conv on the last layer's patch grid (DINOv2 ``BNHead``, "lin").

[DV2] ``dinov2/eval/segmentation/models/decode_heads/linear_head.py`` and PR #185: the linear protocol classifies
every patch token of the last layer independently; the logits are upsampled bilinearly to the image size by the
caller (:class:`raddino_monai.evaluation.segmentation_model.FrozenSegmentationModel`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LinearHead"]


class LinearHead(nn.Module):
    """``BatchNorm2d(D) -> Dropout -> Conv2d(D, C, 1)`` on the last feature map.

    Args:
        in_channels: backbone width D.
        num_classes: output channels C (classes incl. background for softmax; structures for sigmoid).
        num_inputs: how many feature maps the model passes; only the last one is used.
        dropout: dropout before the classifier (DINOv2 ``BNHead`` uses 0.1).

    Example:
        >>> head = LinearHead(16, 3)
        >>> head([torch.zeros(2, 16, 4, 4)]).shape
        torch.Size([2, 3, 4, 4])
    """

    def __init__(self, in_channels: int, num_classes: int, num_inputs: int = 1, dropout: float = 0.1) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.bn = nn.BatchNorm2d(in_channels)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Map the last ``(B, D, h, w)`` feature map to logits ``(B, C, h, w)``."""
        return self.classifier(self.dropout(self.bn(features[-1])))

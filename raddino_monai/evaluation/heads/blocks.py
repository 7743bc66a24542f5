"""Small building blocks shared by the segmentation heads: ``LayerNorm2d`` and ``ConvNormAct``."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerNorm2d", "ConvNormAct"]


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dimension of a ``(B, C, H, W)`` map (detectron2 ``layers.LayerNorm``).

    Args:
        num_channels: C.
        eps: numerical stabiliser; 1e-6 as in detectron2 ``modeling/backbone/utils.py``.

    Example:
        >>> LayerNorm2d(8)(torch.zeros(2, 8, 4, 4)).shape
        torch.Size([2, 8, 4, 4])
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (B, C, H, W) over C; returns the same shape."""
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNormAct(nn.Sequential):
    """``Conv2d(bias=False) -> BatchNorm2d -> ReLU``: mmcv ``ConvModule`` with ``norm_cfg=BN, act_cfg=ReLU``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: 1 or 3 (padding keeps the spatial size).

    Example:
        >>> ConvNormAct(4, 8, 3)(torch.zeros(2, 4, 5, 5)).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

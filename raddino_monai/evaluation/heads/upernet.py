"""UPerNet for plain ViTs: multi-level neck (scales 4, 2, 1, 0.5) + pyramid pooling + FPN head.

Follows the mmsegmentation ViT recipe (``configs/_base_/models/upernet_vit-b16_ln_mln.py``):

* :class:`MultiLevelNeck` = ``mmseg/models/necks/multilevel_neck.py``: per input a 1x1 lateral conv, bilinear
  resampling by ``scales[i]``, then a 3x3 conv (no norm, no activation, as ``norm_cfg=None, act_cfg=None``).
* :class:`UPerHead` = ``mmseg/models/decode_heads/uper_head.py`` (Xiao et al., "Unified Perceptual Parsing", 2018):
  PPM with pool scales (1, 2, 3, 6) on the coarsest level, 1x1 laterals, top-down addition, 3x3 FPN convs, all
  levels upsampled to the finest, concatenated, ``fpn_bottleneck`` 3x3, dropout 0.1, 1x1 classifier; every conv is
  ``Conv-BN-ReLU``.

mmseg defaults are neck width 768 and head width 512; they are the defaults here too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvNormAct

__all__ = ["MultiLevelNeck", "PyramidPoolingModule", "UPerHead", "UPerNetHead"]


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class MultiLevelNeck(nn.Module):
    """Turn same-resolution ViT maps into a pyramid (mmseg ``MultiLevelNeck``).

    Args:
        in_channels: width of each input map.
        out_channels: width of each output map.
        scales: one resampling factor per input (default 4, 2, 1, 0.5: strides p/4 .. 2p).

    Raises:
        ValueError: ``in_channels`` and ``scales`` differ in length.

    Example:
        >>> neck = MultiLevelNeck([8, 8, 8, 8], 4)
        >>> [tuple(o.shape) for o in neck([torch.zeros(1, 8, 4, 4)] * 4)]
        [(1, 4, 16, 16), (1, 4, 8, 8), (1, 4, 4, 4), (1, 4, 2, 2)]
    """

    def __init__(
        self, in_channels: Sequence[int], out_channels: int, scales: Sequence[float] = (4.0, 2.0, 1.0, 0.5)
    ) -> None:
        super().__init__()
        if len(in_channels) != len(scales):
            raise ValueError(
                f"MultiLevelNeck needs one scale per input: got {len(in_channels)} inputs, scales {scales}."
            )
        self.scales = tuple(float(s) for s in scales)
        self.lateral_convs = nn.ModuleList(nn.Conv2d(c, out_channels, kernel_size=1) for c in in_channels)
        self.convs = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in self.scales)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Map ``len(scales)`` maps ``(B, C_i, h, w)`` to ``(B, out_channels, s_i*h, s_i*w)``."""
        if len(inputs) != len(self.scales):
            raise ValueError(f"MultiLevelNeck expected {len(self.scales)} feature maps, got {len(inputs)}.")
        outs = []
        for x, lateral, conv, scale in zip(inputs, self.lateral_convs, self.convs, self.scales):
            x = lateral(x)
            size = (max(1, int(x.shape[-2] * scale)), max(1, int(x.shape[-1] * scale)))
            outs.append(conv(_resize(x, size)))
        return outs


class PyramidPoolingModule(nn.Module):
    """PSPNet pyramid pooling: adaptive average pools, ``Conv1x1-BN-ReLU``, upsampled back (mmseg ``PPM``).

    Args:
        in_channels: input width.
        channels: width of each pooled branch.
        pool_scales: output sizes of the adaptive pools.

    Example:
        >>> [tuple(o.shape) for o in PyramidPoolingModule(8, 4, (1, 2))(torch.zeros(2, 8, 6, 6))]
        [(2, 4, 6, 6), (2, 4, 6, 6)]
    """

    def __init__(self, in_channels: int, channels: int, pool_scales: Sequence[int] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(s), ConvNormAct(in_channels, channels, 1)) for s in pool_scales
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return one ``(B, channels, h, w)`` map per pool scale."""
        return [_resize(branch(x), x.shape[-2:]) for branch in self.branches]


class UPerHead(nn.Module):
    """UPerNet decode head over a feature pyramid (finest level first).

    Args:
        in_channels: width of each pyramid level.
        channels: decoder width (mmseg default 512).
        num_classes: output channels C.
        pool_scales: PPM pool sizes (default 1, 2, 3, 6).
        dropout: dropout before the classifier (mmseg 0.1).

    Example:
        >>> head = UPerHead([4, 4], 4, 3)
        >>> head([torch.zeros(2, 4, 8, 8), torch.zeros(2, 4, 4, 4)]).shape
        torch.Size([2, 3, 8, 8])
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        channels: int,
        num_classes: int,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.ppm = PyramidPoolingModule(in_channels[-1], channels, pool_scales)
        self.bottleneck = ConvNormAct(in_channels[-1] + len(pool_scales) * channels, channels, 3)
        self.lateral_convs = nn.ModuleList(ConvNormAct(c, channels, 1) for c in in_channels[:-1])
        self.fpn_convs = nn.ModuleList(ConvNormAct(channels, channels, 3) for _ in in_channels[:-1])
        self.fpn_bottleneck = ConvNormAct(len(in_channels) * channels, channels, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=1)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Map the pyramid (finest first) to logits ``(B, C, h0, w0)`` at the finest level's resolution."""
        top = inputs[-1]
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs[:-1])]
        laterals.append(self.bottleneck(torch.cat([top, *self.ppm(top)], dim=1)))
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + _resize(laterals[i], laterals[i - 1].shape[-2:])
        outs = [conv(lat) for conv, lat in zip(self.fpn_convs, laterals[:-1])] + [laterals[-1]]
        size = outs[0].shape[-2:]
        fused = torch.cat([outs[0]] + [_resize(o, size) for o in outs[1:]], dim=1)
        return self.classifier(self.dropout(self.fpn_bottleneck(fused)))


class UPerNetHead(nn.Module):
    """UPerNet on a plain ViT: :class:`MultiLevelNeck` over ``num_inputs`` intermediate maps + :class:`UPerHead`.

    Args:
        in_channels: backbone width D of every intermediate map.
        num_classes: output channels C.
        num_inputs: number of intermediate maps (default 4: blocks 4, 6, 9, 12 of the backbone).
        neck_channels: neck width (mmseg ViT recipe 768).
        channels: head width (mmseg 512).
        scales: neck resampling factors, one per input (4, 2, 1, 0.5).
        pool_scales: PPM pool sizes (1, 2, 3, 6).
        dropout: dropout before the classifier (0.1).

    Returns logits at the finest neck resolution: ``(B, C, 4h, 4w)`` with the default scales.

    Example:
        >>> head = UPerNetHead(8, 2, neck_channels=4, channels=4)
        >>> head([torch.zeros(2, 8, 4, 4)] * 4).shape
        torch.Size([2, 2, 16, 16])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        num_inputs: int = 4,
        neck_channels: int = 768,
        channels: int = 512,
        scales: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if len(scales) != num_inputs:
            raise ValueError(
                f"UPerNetHead needs one neck scale per input map: num_inputs={num_inputs}, scales={scales}."
            )
        self.num_inputs = num_inputs
        self.neck = MultiLevelNeck([in_channels] * num_inputs, neck_channels, scales)
        self.decode = UPerHead([neck_channels] * num_inputs, channels, num_classes, pool_scales, dropout)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Map ``num_inputs`` maps ``(B, D, h, w)`` to logits at the finest neck scale."""
        return self.decode(self.neck(features))

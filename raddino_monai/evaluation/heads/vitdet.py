"""ViTDet simple feature pyramid + a light semantic-FPN decoder.

The pyramid follows detectron2 ``modeling/backbone/vit.py::SimpleFeaturePyramid`` (Li et al., "Exploring Plain Vision
Transformer Backbones for Object Detection", 2022): from the *last* ViT feature map only,

* scale 4: ``ConvTranspose(D, D/2, 2, 2) -> LN -> GELU -> ConvTranspose(D/2, D/4, 2, 2)``
* scale 2: ``ConvTranspose(D, D/2, 2, 2)``
* scale 1: identity
* scale 0.5: ``MaxPool(2, 2)``

each followed by ``Conv1x1 -> LN -> Conv3x3 -> LN`` to ``out_channels`` (256, bias-free because of the norm).
The decoder is the semantic-segmentation branch of Panoptic FPN (Kirillov et al., 2019) reduced to one
``Conv3x3-BN-ReLU`` per level: every level is upsampled to the finest one, the maps are summed, and a 1x1 conv
predicts the classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvNormAct, LayerNorm2d

__all__ = ["SimpleFeaturePyramid", "ViTDetHead"]


def _up4(dim: int) -> tuple[nn.Module, int]:
    layers = nn.Sequential(
        nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2),
        LayerNorm2d(dim // 2),
        nn.GELU(),
        nn.ConvTranspose2d(dim // 2, dim // 4, kernel_size=2, stride=2),
    )
    return layers, dim // 4


def _up2(dim: int) -> tuple[nn.Module, int]:
    return nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2), dim // 2


def _identity(dim: int) -> tuple[nn.Module, int]:
    return nn.Identity(), dim


def _down2(dim: int) -> tuple[nn.Module, int]:
    return nn.MaxPool2d(kernel_size=2, stride=2), dim


#: detectron2 SimpleFeaturePyramid: the resampling stage of each supported scale factor.
SCALE_BUILDERS: dict[float, Callable[[int], tuple[nn.Module, int]]] = {
    4.0: _up4,
    2.0: _up2,
    1.0: _identity,
    0.5: _down2,
}


class SimpleFeaturePyramid(nn.Module):
    """Multi-scale maps from a single-scale ViT map (detectron2 maths, LN norm, no top block).

    Args:
        in_channels: backbone width D (must be divisible by 4 when scale 4 is used).
        out_channels: width of every pyramid level (detectron2 default 256).
        scale_factors: resampling factors; each must be one of ``SCALE_BUILDERS`` (4, 2, 1, 0.5).

    Raises:
        ValueError: an unsupported scale factor.

    Example:
        >>> sfp = SimpleFeaturePyramid(16, 8)
        >>> [tuple(p.shape) for p in sfp(torch.zeros(1, 16, 4, 4))]
        [(1, 8, 16, 16), (1, 8, 8, 8), (1, 8, 4, 4), (1, 8, 2, 2)]
    """

    def __init__(
        self, in_channels: int, out_channels: int = 256, scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5)
    ) -> None:
        super().__init__()
        bad = [s for s in scale_factors if float(s) not in SCALE_BUILDERS]
        if bad:
            raise ValueError(f"scale_factors {bad} are not supported; valid values: {sorted(SCALE_BUILDERS)}.")
        self.scale_factors = tuple(float(s) for s in scale_factors)
        stages = []
        for scale in self.scale_factors:
            resample, dim = SCALE_BUILDERS[scale](in_channels)
            stages.append(
                nn.Sequential(
                    resample,
                    nn.Conv2d(dim, out_channels, kernel_size=1, bias=False),
                    LayerNorm2d(out_channels),
                    nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
                    LayerNorm2d(out_channels),
                )
            )
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Map ``x`` (B, D, h, w) to one ``(B, out_channels, s*h, s*w)`` map per scale factor ``s``."""
        return [stage(x) for stage in self.stages]


class ViTDetHead(nn.Module):
    """Segmentation head: :class:`SimpleFeaturePyramid` on the last map + semantic-FPN fusion + 1x1 classifier.

    Args:
        in_channels: backbone width D.
        num_classes: output channels C.
        num_inputs: how many feature maps the model passes; only the last one is used (ViTDet design).
        pyramid_channels: pyramid width (detectron2 default 256).
        decoder_channels: width of the fused decoder map.
        scale_factors: pyramid scales (default 4, 2, 1, 0.5 as in ViTDet).
        dropout: dropout before the classifier.

    Returns logits at the finest pyramid resolution: ``(B, C, 4h, 4w)`` with the default scales.

    Example:
        >>> head = ViTDetHead(16, 3, pyramid_channels=8, decoder_channels=8)
        >>> head([torch.zeros(2, 16, 4, 4)]).shape
        torch.Size([2, 3, 16, 16])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        num_inputs: int = 1,
        pyramid_channels: int = 256,
        decoder_channels: int = 128,
        scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.pyramid = SimpleFeaturePyramid(in_channels, pyramid_channels, scale_factors)
        self.level_convs = nn.ModuleList(
            ConvNormAct(pyramid_channels, decoder_channels, 3) for _ in self.pyramid.scale_factors
        )
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(decoder_channels, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Map the last ``(B, D, h, w)`` feature map to logits at the finest pyramid scale."""
        levels = self.pyramid(features[-1])
        size = max((lvl.shape[-2:] for lvl in levels), key=lambda s: s[0] * s[1])
        fused = sum(
            F.interpolate(conv(lvl), size=size, mode="bilinear", align_corners=False)
            for conv, lvl in zip(self.level_convs, levels)
        )
        return self.classifier(self.dropout(fused))

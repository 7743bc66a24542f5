"""Segmentation heads for frozen ViT features (paper §4.3, Table 6): linear, ViTDet and UPerNet; ECAMP's conv
up-sampling decoder (``ecamp``).

Every head is an ``nn.Module`` built as ``cls(in_channels, num_classes, num_inputs=..., **kwargs)`` whose
``forward(features: list[Tensor (B, D, h, w)]) -> Tensor (B, C, h', w')`` takes the backbone maps of
``num_inputs`` layers (the last map = last block). Look heads up by name in :data:`SEGMENTATION_HEADS`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .blocks import ConvNormAct, LayerNorm2d
from .ecamp import ECAMPUpsampleHead
from .linear import LinearHead
from .upernet import MultiLevelNeck, PyramidPoolingModule, UPerHead, UPerNetHead
from .vitdet import SimpleFeaturePyramid, ViTDetHead

__all__ = [
    "SEGMENTATION_HEADS",
    "HEAD_NUM_INPUTS",
    "create_head",
    "ConvNormAct",
    "ECAMPUpsampleHead",
    "LayerNorm2d",
    "LinearHead",
    "MultiLevelNeck",
    "PyramidPoolingModule",
    "SimpleFeaturePyramid",
    "UPerHead",
    "UPerNetHead",
    "ViTDetHead",
]

#: name -> head class.
SEGMENTATION_HEADS: dict[str, type[nn.Module]] = {
    "linear": LinearHead,
    "vitdet": ViTDetHead,
    "upernet": UPerNetHead,
    "ecamp": ECAMPUpsampleHead,
}

#: name -> number of backbone layers the head consumes (linear, ViTDet, ECAMP: last layer only; UPerNet: 4 layers).
HEAD_NUM_INPUTS: dict[str, int] = {"linear": 1, "vitdet": 1, "upernet": 4, "ecamp": 1}


def create_head(name: str, in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a segmentation head by name.

    Args:
        name: one of :data:`SEGMENTATION_HEADS` (``linear``, ``vitdet``, ``upernet``, ``ecamp``).
        in_channels: backbone width D.
        num_classes: output channels C.
        kwargs: head-specific options (e.g. ``channels``, ``neck_channels`` for UPerNet).

    Returns:
        the head; its ``num_inputs`` attribute says how many backbone maps it expects.

    Raises:
        ValueError: unknown head name.

    Example:
        >>> create_head("linear", 768, 2).num_inputs
        1
    """
    if name not in SEGMENTATION_HEADS:
        raise ValueError(f"Unknown segmentation head {name!r}; valid names: {sorted(SEGMENTATION_HEADS)}.")
    kwargs.setdefault("num_inputs", HEAD_NUM_INPUTS[name])
    return SEGMENTATION_HEADS[name](in_channels, num_classes, **kwargs)

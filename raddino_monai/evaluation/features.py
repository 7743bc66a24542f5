"""Frozen backbones for linear and metadata probes: :class:`FrozenEncoder` returns one pooled vector per image.

The poolings are the package's one vocabulary, :data:`raddino_monai.inference.pooling.POOLINGS` (``"cls"`` [PAPER],
``"mean"``, ``"cls_patchmean"`` and ``"last_n_cls"`` [DV2]; the spatial ``"patch"`` map is for extraction only).
The backbone is frozen by :func:`freeze_backbone`: ``requires_grad_(False)``, eval mode, and every forward runs
under ``torch.no_grad()``.
"""

from __future__ import annotations

import torch
from torch import nn

from raddino_monai.inference.pooling import (
    N_LAST_BLOCKS,
    POOLINGS,
    VECTOR_POOLINGS,
    check_poolings,
    pool_features,
    pooled_dim,
)

__all__ = ["POOLINGS", "POOLED_WIDTH", "VECTOR_POOLINGS", "freeze_backbone", "pooled_dim", "FrozenEncoder"]

#: vector pooling name -> ``F / D`` as a function of ``n_last_blocks`` (derived from :data:`POOLINGS`).
POOLED_WIDTH = {name: POOLINGS[name].width for name in VECTOR_POOLINGS}


def freeze_backbone(backbone: nn.Module) -> nn.Module:
    """Freeze ``backbone`` in place: no parameter requires grad, and it is put in eval mode.

    Args:
        backbone: any module.

    Returns:
        the same module.
    """
    backbone.requires_grad_(False)
    return backbone.eval()


class FrozenEncoder(nn.Module):
    """A frozen backbone that returns pooled features ``(B, F)``; ``train()`` never un-freezes it.

    Args:
        backbone: a :class:`raddino_monai.models.RadDinoBackbone` (anything with its interface).
        pooling: a key of :data:`~raddino_monai.inference.pooling.VECTOR_POOLINGS`.
        n_last_blocks: blocks concatenated by ``"last_n_cls"`` (1..num_layers).

    Raises:
        ValueError: unknown pooling or ``n_last_blocks`` out of range.

    Example::

        >>> enc = FrozenEncoder(create_backbone("tiny_vit_p14"), pooling="cls_patchmean")
        >>> enc(torch.rand(2, 3, 56, 56)).shape
        torch.Size([2, 384])
    """

    def __init__(self, backbone: nn.Module, pooling: str = "cls", n_last_blocks: int = N_LAST_BLOCKS) -> None:
        super().__init__()
        check_poolings([pooling], VECTOR_POOLINGS)
        num_layers = int(getattr(backbone, "num_layers", n_last_blocks))
        if not 1 <= n_last_blocks <= num_layers:
            raise ValueError(f"n_last_blocks must be in [1, {num_layers}] for this backbone; found {n_last_blocks}.")
        self.backbone = freeze_backbone(backbone)
        self.pooling = pooling
        self.n_last_blocks = n_last_blocks
        self.out_dim = pooled_dim(int(backbone.embed_dim), pooling, n_last_blocks)

    def train(self, mode: bool = True) -> FrozenEncoder:
        """Set the mode of this module; the backbone always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, F)`` of images ``x`` ``(B, 3, H, W)``, computed without autograd."""
        with torch.no_grad():
            return pool_features(self.backbone, x, [self.pooling], self.n_last_blocks)[self.pooling]

"""Frozen-backbone feature pooling for linear and metadata probes.

Three pooled representations (selected by name from :data:`POOLINGS`):

* ``"cls"``: the normed CLS token of the last block, ``(B, D)`` (RAD-DINO [PAPER] §4 linear probing; [CARD]).
* ``"cls_patchmean"``: CLS concatenated with the mean of the last block's normed patch tokens, ``(B, 2D)``
  ([DV2] ``eval/linear.py`` ``use_avgpool=True`` with ``n_last_blocks=1``).
* ``"last_n_cls"``: normed CLS of the last ``n`` blocks concatenated, ``(B, n*D)`` ([DV2] ``eval/linear.py``
  ``create_linear_input``: ``get_intermediate_layers(n, return_class_token=True)`` with ``norm=True``; n in {1, 4}).

The backbone is frozen by :func:`freeze_backbone`: ``requires_grad_(False)``, eval mode, and every forward runs
under ``torch.no_grad()``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["POOLINGS", "POOLED_WIDTH", "freeze_backbone", "pooled_dim", "FrozenEncoder"]


def _cls(backbone: nn.Module, x: torch.Tensor, n_last_blocks: int) -> torch.Tensor:
    return backbone(x)


def _cls_patchmean(backbone: nn.Module, x: torch.Tensor, n_last_blocks: int) -> torch.Tensor:
    feats = backbone.forward_features(x)
    return torch.cat([feats["cls_token"], feats["patch_tokens"].mean(dim=1)], dim=1)


def _last_n_cls(backbone: nn.Module, x: torch.Tensor, n_last_blocks: int) -> torch.Tensor:
    hidden = backbone.model(pixel_values=x, output_hidden_states=True).hidden_states
    return torch.cat([backbone.model.layernorm(h[:, 0]) for h in hidden[-n_last_blocks:]], dim=1)


#: pooling name -> ``fn(backbone, images (B, 3, H, W), n_last_blocks) -> (B, F)``.
POOLINGS: dict[str, Callable[[nn.Module, torch.Tensor, int], torch.Tensor]] = {
    "cls": _cls,
    "cls_patchmean": _cls_patchmean,
    "last_n_cls": _last_n_cls,
}

#: pooling name -> ``F / D`` as a function of ``n_last_blocks``.
POOLED_WIDTH: dict[str, Callable[[int], int]] = {
    "cls": lambda n: 1,
    "cls_patchmean": lambda n: 2,
    "last_n_cls": lambda n: n,
}


def _check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"Unknown pooling {pooling!r}; valid values: {sorted(POOLINGS)}.")


def pooled_dim(embed_dim: int, pooling: str, n_last_blocks: int = 4) -> int:
    """Width F of the pooled feature.

    Args:
        embed_dim: backbone width D.
        pooling: a key of :data:`POOLINGS`.
        n_last_blocks: blocks used by ``"last_n_cls"``.

    Returns:
        F.

    Raises:
        ValueError: unknown pooling.

    Example:
        >>> pooled_dim(768, "last_n_cls", 4)
        3072
    """
    _check_pooling(pooling)
    return embed_dim * POOLED_WIDTH[pooling](n_last_blocks)


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
        pooling: a key of :data:`POOLINGS`.
        n_last_blocks: blocks concatenated by ``"last_n_cls"`` (1..num_layers).

    Raises:
        ValueError: unknown pooling or ``n_last_blocks`` out of range.

    Example::

        >>> enc = FrozenEncoder(create_backbone("tiny_vit_p14"), pooling="cls_patchmean")
        >>> enc(torch.rand(2, 3, 56, 56)).shape
        torch.Size([2, 384])
    """

    def __init__(self, backbone: nn.Module, pooling: str = "cls", n_last_blocks: int = 4) -> None:
        super().__init__()
        _check_pooling(pooling)
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
            return POOLINGS[self.pooling](self.backbone, x, self.n_last_blocks)

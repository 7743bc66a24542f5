"""Linear classifier on a frozen encoder: task-specific losses / activations and the bundle ``network_def``."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .features import FrozenEncoder

__all__ = ["TASK_LOSSES", "TASK_ACTIVATIONS", "init_linear", "ProbeClassifier"]


def _bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.reshape(target.shape), target.float())


def _ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, target.long())


#: task -> loss(logits (B, K), target) with target (B,) for binary / multiclass and (B, C) for multilabel.
TASK_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "binary": _bce,
    "multiclass": _ce,
    "multilabel": _bce,
}

#: task -> logits (B, K) -> probabilities: (B,) positive-class probability, (B, C) softmax, (B, C) sigmoid.
TASK_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "binary": lambda z: torch.sigmoid(z[:, 0]),
    "multiclass": lambda z: torch.softmax(z, dim=1),
    "multilabel": torch.sigmoid,
}


def init_linear(layer: nn.Linear, seed: int) -> nn.Linear:
    """DINOv2 linear-classifier init ([DV2] ``eval/linear.py`` ``LinearClassifier``): weight N(0, 0.01), bias 0.

    Args:
        layer: the layer to initialise in place.
        seed: seed of the weight draw (independent of the global RNG).

    Returns:
        the layer.
    """
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * 0.01)
        layer.bias.zero_()
    return layer


class ProbeClassifier(nn.Module):
    """Frozen backbone + pooled features + one linear layer: ``(B, 3, H, W) -> logits (B, K)``.

    This single module is the ``network_def`` of the ``raddino_cxr_classification`` bundle; its ``state_dict`` holds
    the backbone (``encoder.backbone.*``) and the linear layer (``head.*``).

    Args:
        backbone: a backbone module, or a backbone name for :func:`raddino_monai.models.create_backbone`
            (random init; load the weights from the bundle's ``model.pt``).
        num_outputs: K (1 for binary, C otherwise).
        pooling: see :data:`raddino_monai.evaluation.features.POOLINGS`.
        n_last_blocks: blocks for ``"last_n_cls"``.

    Example::

        >>> net = ProbeClassifier("tiny_vit_p14", num_outputs=3)
        >>> net(torch.rand(2, 3, 56, 56)).shape
        torch.Size([2, 3])
    """

    def __init__(
        self, backbone: nn.Module | str, num_outputs: int, pooling: str = "cls", n_last_blocks: int = 4
    ) -> None:
        super().__init__()
        if isinstance(backbone, str):
            from raddino_monai.models import create_backbone

            backbone = create_backbone(backbone)
        self.encoder = FrozenEncoder(backbone, pooling=pooling, n_last_blocks=n_last_blocks)
        self.head = nn.Linear(self.encoder.out_dim, int(num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)``; no gradient flows into the backbone."""
        return self.head(self.encoder(x))

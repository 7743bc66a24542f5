"""The classification bundle's network: a frozen encoder, pooled features and one linear layer (:class:`ProbeClassifier`).

The probe tasks' losses and activations are in :mod:`.tasks`, the linear layer's init in :mod:`.linear_probe`.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from raddino_monai._compat import moved_names

from .features import FrozenEncoder
from .tasks import PROBE_TASKS

__all__ = ["ProbeClassifier"]

_moved = moved_names(__name__)


def __getattr__(name: str) -> object:
    """Deprecated names: ``init_linear`` moved to :mod:`.linear_probe`; ``TASK_LOSSES`` / ``TASK_ACTIVATIONS`` are
    views of :data:`.tasks.PROBE_TASKS`."""
    if name in ("TASK_LOSSES", "TASK_ACTIVATIONS"):
        warnings.warn(f"{__name__}.{name} is deprecated; use raddino_monai.evaluation.tasks.PROBE_TASKS[task]."
                      f"{'loss' if name == 'TASK_LOSSES' else 'activation'}.", DeprecationWarning, stacklevel=2)
        field = "loss" if name == "TASK_LOSSES" else "activation"
        return {task: getattr(spec, field) for task, spec in PROBE_TASKS.items()}
    return _moved(name)



class ProbeClassifier(nn.Module):
    """Frozen backbone + pooled features + one linear layer: ``(B, 3, H, W) -> logits (B, K)``.

    This single module is the ``network_def`` of the ``raddino_cxr_classification`` bundle; its ``state_dict`` holds
    the backbone (``encoder.backbone.*``) and the linear layer (``head.*``).

    Args:
        backbone: a backbone module, or a backbone name for :func:`raddino_monai.models.create_backbone`
            (random init; load the weights from the bundle's ``model.pt``).
        num_outputs: K (1 for binary, C otherwise).
        pooling: see :data:`raddino_monai.inference.pooling.VECTOR_POOLINGS`.
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

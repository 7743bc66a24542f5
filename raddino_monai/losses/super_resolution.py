"""Super-resolution loss: MSE between the up-sampled reconstruction and the high-resolution image, optionally
restricted to a region.

ECAMP ([ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/model_ecamp.py`` lines 282-299) multiplies prediction
and target by a binary region map and takes ``F.mse_loss(..., reduction="mean")`` over every pixel, i.e.
``mean(m * (pred - target) ** 2)`` for ``m`` in {0, 1}. Without a map it is the plain MSE.

* ``"all_pixels"`` (default, ECAMP): ``mean(w * (pred - target) ** 2)`` over all ``B * C * H * W`` values;
* ``"region"``: ``sum(w * (pred - target) ** 2) / (C * sum(w))``, the mean inside the region.

A non-binary weight map multiplies the squared error (ECAMP's form squares a binary map, which changes nothing).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["SuperResolutionLoss", "SR_NORMALIZATIONS"]

#: valid values of ``SuperResolutionLoss(normalize_by=...)``
SR_NORMALIZATIONS = ("all_pixels", "region")


class SuperResolutionLoss(nn.Module):
    """(Region-weighted) MSE at the target resolution.

    Args:
        normalize_by: ``"all_pixels"`` (ECAMP, default) or ``"region"``.

    Raises:
        ValueError: unknown ``normalize_by`` (valid values listed).

    Example:
        >>> w = torch.zeros(1, 1, 4, 4); w[..., :2, :] = 1
        >>> SuperResolutionLoss()(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4), w)
        tensor(0.5000)
    """

    def __init__(self, normalize_by: str = "all_pixels") -> None:
        super().__init__()
        if normalize_by not in SR_NORMALIZATIONS:
            raise ValueError(f"normalize_by must be one of {list(SR_NORMALIZATIONS)}; got {normalize_by!r}.")
        self.normalize_by = normalize_by

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """Loss of one batch.

        Args:
            pred: ``(B, C, H, W)`` super-resolved reconstruction.
            target: ``(B, C, H, W)`` high-resolution image.
            weight: ``(B, 1, H, W)`` region weights (ECAMP: 1 inside the attention region, 0 outside), or None for
                the plain MSE.

        Returns:
            float32 scalar.

        Raises:
            ValueError: shapes that do not match, or an all-zero map with ``"region"``.
        """
        if pred.shape != target.shape or pred.ndim != 4:
            raise ValueError(f"SuperResolutionLoss expects pred and target (B, C, H, W) of one shape; found "
                             f"{tuple(pred.shape)} and {tuple(target.shape)}.")
        with torch.autocast(device_type=pred.device.type, enabled=False):
            se = (pred.float() - target.float()) ** 2
            if weight is None:
                return se.mean()
            b, c, h, w = pred.shape
            if tuple(weight.shape) != (b, 1, h, w):
                raise ValueError(f"weight must be (B, 1, H, W) = {(b, 1, h, w)}; found {tuple(weight.shape)}.")
            weighted = (se * weight.float()).sum()
            if self.normalize_by == "all_pixels":
                return weighted / se.numel()
            total = float(weight.float().sum())
            if total == 0:
                raise ValueError("SuperResolutionLoss(normalize_by='region') got an all-zero weight map.")
            return weighted / (c * weight.float().sum())

    def extra_repr(self) -> str:
        return f"normalize_by={self.normalize_by!r}"

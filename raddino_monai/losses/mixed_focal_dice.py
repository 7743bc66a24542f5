"""ECAMP's segmentation loss: ``alpha * Focal - log(Dice)`` on sigmoid logits (MGCA's ``MixedLoss``).

[ECAMP] ToniChopp/ECAMP @ d02d16d ``Fine-tuning/Segmentation/utils/segmentation_loss.py`` (``MixedLoss(alpha=10)``,
used by ``train.py``):

* focal term (``FocalLoss``, gamma 2): ``mean(exp(gamma * logsigmoid(-x * (2t - 1))) * BCEWithLogits(x, t))``, i.e.
  ``(1 - p_t) ** gamma`` times the binary cross-entropy, averaged over every element;
* Dice term (``dice_loss``, which returns the Dice *score*): ``(2 * sum(sigmoid(x) * t) + 1) / (sum(sigmoid(x)) +
  sum(t) + 1)`` over the whole batch flattened (not per image), smoothing 1;
* ``loss = alpha * focal - log(dice)``, alpha 10.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MixedFocalDiceLoss"]


class MixedFocalDiceLoss(nn.Module):
    """``alpha * focal(x, t) - log(dice(sigmoid(x), t))`` for binary / multi-label masks.

    Args:
        alpha: focal weight ([ECAMP] ``MixedLoss(alpha=10)``).
        gamma: focal exponent ([ECAMP] 2).
        smooth: Dice smoothing ([ECAMP] 1).

    Example:
        >>> loss = MixedFocalDiceLoss()
        >>> float(loss(torch.full((1, 1, 2, 2), 20.0), torch.ones(1, 1, 2, 2))) < 1e-6   # confident and right
        True
    """

    def __init__(self, alpha: float = 10.0, gamma: float = 2.0, smooth: float = 1.0) -> None:
        super().__init__()
        if alpha < 0 or gamma < 0 or smooth <= 0:
            raise ValueError(f"need alpha >= 0, gamma >= 0, smooth > 0; got {alpha}, {gamma}, {smooth}.")
        self.alpha, self.gamma, self.smooth = alpha, gamma, smooth

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Loss of a batch.

        Args:
            logits: ``(B, C, H, W)`` (any shape) raw scores.
            target: same shape, values in {0, 1}.

        Returns:
            float32 scalar.

        Raises:
            ValueError: shapes differ.
        """
        if logits.shape != target.shape:
            raise ValueError(f"MixedFocalDiceLoss: logits {tuple(logits.shape)} and target {tuple(target.shape)} "
                             "must have one shape (one channel per structure, sigmoid).")
        with torch.autocast(device_type=logits.device.type, enabled=False):
            x, t = logits.float(), target.float()
            bce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
            focal = (torch.exp(self.gamma * F.logsigmoid(-x * (2.0 * t - 1.0))) * bce).mean()
            p = torch.sigmoid(x)
            dice = (2.0 * (p * t).sum() + self.smooth) / (p.sum() + t.sum() + self.smooth)
            return self.alpha * focal - torch.log(dice)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}, smooth={self.smooth}"

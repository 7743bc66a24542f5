"""Masked-image-modelling loss: MSE between predicted and true pixels of the masked patches (MAE / ECAMP).

``err_n = mean_over_pixels((pred_n - target_n) ** 2)`` per patch ``n``; only masked patches count. Two
normalisations of the sum, which differ by the constant factor ``N_masked / N`` (exactly 0.75 for ECAMP's masking of
147 of 196 patches):

* ``"all_patches"`` (default) ``sum(err * mask) / (B * N)``: ECAMP ([ECAMP] ToniChopp/ECAMP @ d02d16d
  ``Pre-training/module/model_ecamp.py`` lines 276-300: ``F.mse_loss(pred * pixel_mask, imgs * pixel_mask)``, a mean
  over *all* pixels of images whose visible patches are zeroed).
* ``"masked_patches"`` ``sum(err * mask) / sum(mask)``: MAE ([MAE] facebookresearch/mae @ efb2a80
  ``models_mae.py`` lines 198-214, "mean loss on removed patches").

``norm_pix=True`` replaces each target patch by ``(t - mean) / sqrt(var + 1e-6)`` over its own pixels (unbiased
variance, ``Tensor.var`` as in [MAE] lines 205-208). ECAMP's ``run.sh`` passes ``--norm_pix_loss`` but its
``forward_loss`` never reads the flag, so ECAMP's effective target is the plain (dataset-normalised) image: that is
the default here; ``norm_pix=True`` is MAE's recipe, an explicit option.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MaskedPixelLoss", "MIM_NORMALIZATIONS"]

#: valid values of ``MaskedPixelLoss(normalize_by=...)``
MIM_NORMALIZATIONS = ("all_patches", "masked_patches")


class MaskedPixelLoss(nn.Module):
    """MSE on masked patches.

    Args:
        norm_pix: per-patch normalised targets ([MAE] ``norm_pix_loss``); default False = ECAMP's effective target.
        normalize_by: ``"all_patches"`` (ECAMP, default) or ``"masked_patches"`` (MAE); see the module docstring.
        eps: variance epsilon of ``norm_pix`` ([MAE] 1e-6).

    Raises:
        ValueError: unknown ``normalize_by`` (valid values listed).

    Example:
        >>> loss = MaskedPixelLoss()
        >>> loss(torch.zeros(2, 4, 12), torch.ones(2, 4, 12), torch.tensor([[1., 0, 0, 0], [1, 1, 0, 0]]))
        tensor(0.3750)
    """

    def __init__(self, norm_pix: bool = False, normalize_by: str = "all_patches", eps: float = 1e-6) -> None:
        super().__init__()
        if normalize_by not in MIM_NORMALIZATIONS:
            raise ValueError(f"normalize_by must be one of {list(MIM_NORMALIZATIONS)}; got {normalize_by!r}.")
        self.norm_pix = norm_pix
        self.normalize_by = normalize_by
        self.eps = eps

    def target(self, target: Tensor) -> Tensor:
        """The regression target: ``target`` itself, or its per-patch normalisation when ``norm_pix``.

        Args:
            target: ``(B, N, P)`` patchified image.
        """
        if not self.norm_pix:
            return target
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        return (target - mean) / (var + self.eps) ** 0.5

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """Loss of one batch.

        Args:
            pred: ``(B, N, P)`` decoder output (``P = p * p * C``).
            target: ``(B, N, P)`` patchified image (before ``norm_pix``).
            mask: ``(B, N)``, 1 = masked (scored), 0 = visible.

        Returns:
            float32 scalar.

        Raises:
            ValueError: shapes that do not match, or no masked patch with ``"masked_patches"``.
        """
        if pred.shape != target.shape or pred.ndim != 3 or tuple(mask.shape) != tuple(pred.shape[:2]):
            raise ValueError(
                f"MaskedPixelLoss expects pred and target (B, N, P) and mask (B, N); found {tuple(pred.shape)}, "
                f"{tuple(target.shape)}, {tuple(mask.shape)}."
            )
        with torch.autocast(device_type=pred.device.type, enabled=False):
            err = ((pred.float() - self.target(target.float())) ** 2).mean(dim=-1)
            weighted = (err * mask.float()).sum()
            if self.normalize_by == "all_patches":
                return weighted / err.numel()
            if float(mask.sum()) == 0:
                raise ValueError("MaskedPixelLoss(normalize_by='masked_patches') got a batch without masked patches.")
            return weighted / mask.float().sum()

    def extra_repr(self) -> str:
        return f"norm_pix={self.norm_pix}, normalize_by={self.normalize_by!r}"

"""ECAMP's context-guided super-resolution head and its attention-region map.

[ECAMP] ToniChopp/ECAMP @ d02d16d ``Pre-training/module/model_ecamp.py``:

* ``InterpolateConvSuperResolution`` (lines 28-46), built with ``scale_factor=2, in_channels=3, out_channels=3``
  (lines 87-94): bilinear up-sampling (``align_corners=False``) -> 3x3 conv -> ReLU -> 3x3 conv -> + the up-sampled
  input -> ReLU. Its input is the MAE decoder's prediction of *every* patch put back into image form (224 px), its
  target the 448 px image the 224 px input was resized from (``forward`` / ``forward_loss``, lines 276-325).
* ``mask_2_pixel`` (lines 196-215): the SR loss only counts a 12 x 12-patch window of the 14 x 14 patch grid whose
  top-left patch ``(label_i, label_j)`` comes from ``mimic-cxr-2.0.0-attn-label.csv``; each patch cell covers
  ``2 * 16 = 32`` px of the 448 px target. :func:`box_region_map` builds that map; any other per-image weight map
  (e.g. a mask image transformed together with the image) can be used instead.

The final ReLU is ECAMP's; on images normalised to zero mean it cannot output the negative (darker than mean)
values of the target. ``final_relu=False`` removes it (an explicit deviation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["InterpolateConvSR", "box_region_map"]


class InterpolateConvSR(nn.Module):
    """Bilinear up-sampling followed by a residual two-conv refinement ([ECAMP] ``InterpolateConvSuperResolution``).

    Args:
        scale_factor: up-sampling factor ([ECAMP] 2: 224 -> 448).
        channels: image channels in and out ([ECAMP] 3).
        kernel_size: conv kernel ([ECAMP] 3, padding 1).
        final_relu: apply ECAMP's ReLU after the residual sum (default True, [ECAMP] line 44).

    Example:
        >>> InterpolateConvSR()(torch.randn(1, 3, 8, 8)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(self, scale_factor: int = 2, channels: int = 3, kernel_size: int = 3, final_relu: bool = True) -> None:
        super().__init__()
        if scale_factor < 1 or kernel_size % 2 == 0:
            raise ValueError(f"need scale_factor >= 1 and an odd kernel_size; got {scale_factor}, {kernel_size}.")
        self.scale_factor = int(scale_factor)
        self.final_relu = final_relu
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, h, w) -> (B, C, s * h, s * w)``."""
        x = F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)
        out = self.conv2(F.relu(self.conv1(x))) + x
        return F.relu(out) if self.final_relu else out


def box_region_map(
    top: Tensor, left: Tensor, *, grid: int = 14, box: int = 12, size: int = 448
) -> Tensor:
    """Binary SR weight map of ECAMP's attention region: a ``box x box`` window of a ``grid x grid`` patch grid.

    Args:
        top: ``(B,)`` first patch row of the window (ECAMP's ``label_i`` / ``column``, indexing rows).
        left: ``(B,)`` first patch column (ECAMP's ``label_j`` / ``row``).
        grid: patch grid side of the encoder input ([ECAMP] 14 = 224 / 16).
        box: window side in patches ([ECAMP] 12).
        size: side of the SR target in pixels ([ECAMP] 448); each patch cell is ``size // grid`` px.

    Returns:
        float ``(B, 1, size, size)``: 1 inside the window, 0 outside (windows are clipped to the grid, as slicing
        clips them in ECAMP).

    Raises:
        ValueError: ``size`` is not a multiple of ``grid``, or ``top`` / ``left`` are not ``(B,)``.

    Example:
        >>> box_region_map(torch.tensor([0]), torch.tensor([2]), grid=4, box=2, size=8)[0, 0]
        tensor([[0., 0., 0., 0., 1., 1., 1., 1.],
                [0., 0., 0., 0., 1., 1., 1., 1.],
                [0., 0., 0., 0., 1., 1., 1., 1.],
                [0., 0., 0., 0., 1., 1., 1., 1.],
                [0., 0., 0., 0., 0., 0., 0., 0.],
                [0., 0., 0., 0., 0., 0., 0., 0.],
                [0., 0., 0., 0., 0., 0., 0., 0.],
                [0., 0., 0., 0., 0., 0., 0., 0.]])
    """
    if size % grid:
        raise ValueError(f"box_region_map: size {size} must be a multiple of grid {grid}.")
    if top.ndim != 1 or top.shape != left.shape:
        raise ValueError(f"top and left must both be (B,); found {tuple(top.shape)} and {tuple(left.shape)}.")
    cells = torch.arange(grid, device=top.device)
    rows = (cells[None] >= top[:, None]) & (cells[None] < top[:, None] + box)  # (B, grid)
    cols = (cells[None] >= left[:, None]) & (cells[None] < left[:, None] + box)
    cell_map = (rows[:, :, None] & cols[:, None, :]).float()  # (B, grid, grid)
    cell = size // grid
    return cell_map.repeat_interleave(cell, dim=1).repeat_interleave(cell, dim=2)[:, None]

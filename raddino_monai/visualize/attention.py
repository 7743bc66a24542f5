"""CLS attention maps of the last block at input resolution, and DINO's thresholded "top mass" masks.

* :func:`cls_attention_grid` — last-block CLS-to-patch attention per head on the patch grid (each head sums to 1).
* :func:`cls_attention` — the same maps upsampled to the input size (``"nearest"`` as DINO's
  ``visualize_attention.py``, or smooth ``"bilinear"``).
* :func:`top_mass_mask` — per head, the smallest set of patches holding ``mass`` of the attention (DINO, Caron et al.
  2021, Fig. 3 and ``visualize_attention.py --threshold 0.6``; the RAD-DINO paper draws CLS attention of CXRs).
* :func:`save_attention_png` — image, head-averaged overlay, every head, and (optionally) the thresholded masks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from raddino_monai.models import RadDinoBackbone
from raddino_monai.visualize.figure import agg_pyplot, display_image, save_figure

__all__ = ["UPSAMPLE_MODES", "cls_attention_grid", "cls_attention", "top_mass_mask", "save_attention_png"]

#: upsampling of patch-grid maps to the input size (``torch.nn.functional.interpolate`` modes).
UPSAMPLE_MODES = ("nearest", "bilinear")

#: attention mass kept by the thresholded maps: 0.6 in DINO's figures (``visualize_attention.py --threshold 0.6``).
DEFAULT_MASS = 0.6


@torch.no_grad()
def cls_attention_grid(backbone: RadDinoBackbone, image: torch.Tensor) -> torch.Tensor:
    """CLS-to-patch attention of the last block on the patch grid, one map per head.

    Args:
        backbone: the encoder (put in eval mode here).
        image: one preprocessed image ``(3, H, W)`` (H, W multiples of the patch size).

    Returns:
        ``(heads, h, w)`` float32 on the CPU; each head's map sums to 1.

    Raises:
        ValueError: ``image`` is not ``(3, H, W)``.
    """
    if image.ndim != 3:
        raise ValueError(f"cls_attention expects one image (3, H, W), got shape {tuple(image.shape)}")
    backbone.eval()
    x = image[None].to(next(backbone.parameters()).device)
    attn = backbone.attention_maps(x)[0]  # (heads, T, T)
    h, w = backbone.grid_size(x)
    cls_to_patch = attn[:, 0, -h * w :]  # registers (if any) sit between CLS and the patches
    cls_to_patch = cls_to_patch / cls_to_patch.sum(dim=-1, keepdim=True)
    return cls_to_patch.reshape(-1, h, w).float().cpu()


def _upsample(maps: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"upsample mode {mode!r}; valid values: {list(UPSAMPLE_MODES)}.")
    extra = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(maps[:, None].float(), size=size, mode=mode, **extra)[:, 0]


@torch.no_grad()
def cls_attention(backbone: RadDinoBackbone, image: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    """CLS-to-patch attention of the last block, one map per head, at input resolution.

    Args:
        backbone: the encoder.
        image: one preprocessed image ``(3, H, W)``.
        mode: ``"nearest"`` (each patch a block, as DINO draws them) or ``"bilinear"`` (smooth).

    Returns:
        ``(heads, H, W)`` float32; with ``"nearest"`` each head sums to ``patch_size**2`` over the pixels.

    Raises:
        ValueError: ``image`` is not ``(3, H, W)`` or ``mode`` is unknown (valid values listed).
    """
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"upsample mode {mode!r}; valid values: {list(UPSAMPLE_MODES)}.")
    grid = cls_attention_grid(backbone, image)
    return _upsample(grid, tuple(image.shape[-2:]), mode)


def top_mass_mask(attention: torch.Tensor, mass: float = DEFAULT_MASS) -> torch.Tensor:
    """Per head, the smallest set of patches whose attention sums to at least ``mass`` of the head's total.

    DINO's rule (``visualize_attention.py``): sort a head's values ascending, keep a patch when the cumulative sum up
    to and including it exceeds ``1 - mass``; equivalently, walking from the largest value down, a patch is kept while
    the mass of the larger ones is still below ``mass``.

    Args:
        attention: ``(heads, h, w)`` non-negative maps on the patch grid (e.g. :func:`cls_attention_grid`).
        mass: fraction of the attention to keep, in ``(0, 1]``.

    Returns:
        ``(heads, h, w)`` bool.

    Raises:
        ValueError: ``mass`` outside ``(0, 1]`` or ``attention`` not 3-D.
    """
    if not 0.0 < mass <= 1.0:
        raise ValueError(f"mass must be in (0, 1], found {mass}.")
    if attention.ndim != 3:
        raise ValueError(f"top_mass_mask expects (heads, h, w), found shape {tuple(attention.shape)}.")
    flat = attention.reshape(attention.shape[0], -1).float()
    values, order = torch.sort(flat, dim=1)
    cumulative = torch.cumsum(values / values.sum(dim=1, keepdim=True), dim=1)
    keep_sorted = cumulative > (1.0 - mass)
    keep = torch.zeros_like(keep_sorted)
    keep.scatter_(1, order, keep_sorted)
    return keep.reshape(attention.shape)


def save_attention_png(
    image: torch.Tensor,
    attention: torch.Tensor,
    path: str | Path,
    title: str = "",
    masks: torch.Tensor | None = None,
    mass: float = DEFAULT_MASS,
) -> Path:
    """Write the image, the head-averaged CLS attention overlay, every head's map (and thresholded masks) to one PNG.

    Args:
        image: ``(3, H, W)`` image the maps were computed on.
        attention: ``(heads, H, W)`` from :func:`cls_attention`.
        path: output ``.png`` path (parent folders are created).
        title: figure title (e.g. the file name).
        masks: optional ``(heads, H, W)`` bool maps (:func:`top_mass_mask` upsampled) drawn in a second block of rows.
        mass: the mass the masks keep (for their titles).

    Returns:
        the written path.
    """
    plt = agg_pyplot()
    heads = attention.shape[0]
    cols = min(heads, 6)
    head_rows = (heads + cols - 1) // cols
    rows = 1 + head_rows * (2 if masks is not None else 1)
    fig, axes = plt.subplots(rows, max(cols, 3), figsize=(2.4 * max(cols, 3), 2.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    grey = display_image(image)
    axes[0, 0].imshow(grey, cmap="gray")
    axes[0, 0].set_title("input", fontsize=8)
    axes[0, 1].imshow(grey, cmap="gray")
    mean = attention.mean(0).numpy()
    shown = axes[0, 1].imshow(mean, cmap="inferno", alpha=0.55)
    axes[0, 1].set_title("mean CLS attention over heads", fontsize=8)
    _colourbar(fig, shown, axes[0, 1], "share of the CLS attention")
    if masks is not None:
        axes[0, 2].imshow(grey, cmap="gray")
        share = axes[0, 2].imshow(masks.float().mean(0).numpy(), cmap="viridis", alpha=0.5, vmin=0, vmax=1)
        axes[0, 2].set_title(f"heads whose top {mass:.0%} attention\nmass covers the pixel", fontsize=8)
        _colourbar(fig, share, axes[0, 2], "share of heads")
    for k in range(heads):
        ax = axes[1 + k // cols, k % cols]
        ax.imshow(attention[k].numpy(), cmap="inferno")
        ax.set_title(f"head {k} (dark → bright = low → high)" if k == 0 else f"head {k}", fontsize=7)
        if masks is not None:
            ax_mask = axes[1 + head_rows + k // cols, k % cols]
            ax_mask.imshow(grey, cmap="gray")
            ax_mask.imshow(np.ma.masked_where(~masks[k].numpy(), np.ones(masks[k].shape)), cmap="autumn", alpha=0.45,
                           vmin=0, vmax=1)
            ax_mask.set_title(f"head {k}: top {mass:.0%} mass", fontsize=7)
    fig.suptitle(title or "last-block CLS attention", fontsize=9)
    fig.subplots_adjust(wspace=0.45)
    return save_figure(fig, path)


def _colourbar(fig: Any, mappable: Any, ax: Any, label: str) -> None:
    bar = fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.03)
    bar.ax.tick_params(labelsize=6)
    bar.set_label(label, fontsize=7)

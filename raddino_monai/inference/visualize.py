"""What a frozen encoder sees, as PNG files: CLS attention maps and patch correspondences.

    python tools/visualize.py --image chest.png --weights runs/raddino/hf_teacher --out_dir viz/

* :func:`cls_attention` — last-block CLS-to-patch attention per head, upsampled to the image (DINO's "attention
  maps", Caron et al. 2021, Fig. 1; RAD-DINO Fig. 4 shows the same kind of map for CXRs).
* :func:`patch_similarity` — cosine similarity of every patch token of a target image to one query patch of a
  source image (the dense "patch correspondence" view of DINOv2 features).
* :func:`save_attention_png` / :func:`save_patch_similarity_png` write them as figures (matplotlib, Agg backend).
* :func:`agg_pyplot` — ``matplotlib.pyplot`` on the file-only Agg backend, for every PNG the package writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from raddino_monai.models.backbone import RadDinoBackbone

__all__ = ["agg_pyplot", "cls_attention", "patch_similarity", "save_attention_png", "save_patch_similarity_png"]


def agg_pyplot() -> Any:
    """``matplotlib.pyplot`` with the Agg backend (files only, no display needed), selected when a figure is made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@torch.no_grad()
def cls_attention(backbone: RadDinoBackbone, image: torch.Tensor) -> torch.Tensor:
    """CLS-to-patch attention of the last block, one map per head, at input resolution.

    Args:
        backbone: the encoder (put in eval mode by this function's caller or here).
        image: one preprocessed image ``(3, H, W)`` (H, W multiples of the patch size).

    Returns:
        ``(heads, H, W)`` float32; each head's map sums to 1 over the patch grid before upsampling.

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
    maps = cls_to_patch.reshape(-1, 1, h, w).float()
    return F.interpolate(maps, size=tuple(x.shape[-2:]), mode="nearest")[:, 0].cpu()


@torch.no_grad()
def patch_similarity(
    backbone: RadDinoBackbone, source: torch.Tensor, target: torch.Tensor, query: tuple[int, int]
) -> torch.Tensor:
    """Cosine similarity between one query patch of ``source`` and every patch of ``target``.

    Args:
        backbone: the encoder.
        source: preprocessed image ``(3, H, W)`` holding the query patch.
        target: preprocessed image ``(3, H', W')``.
        query: ``(row, col)`` of the query patch in the source's patch grid.

    Returns:
        ``(h', w')`` similarities in ``[-1, 1]`` on the target's patch grid.

    Raises:
        ValueError: ``query`` lies outside the source patch grid.
    """
    backbone.eval()
    device = next(backbone.parameters()).device
    src = backbone.forward_features(source[None].to(device))["patch_grid"][0]  # (D, h, w)
    tgt = backbone.forward_features(target[None].to(device))["patch_grid"][0]
    row, col = query
    if not (0 <= row < src.shape[1] and 0 <= col < src.shape[2]):
        raise ValueError(f"query patch {query} is outside the source patch grid {tuple(src.shape[1:])}")
    q = F.normalize(src[:, row, col], dim=0)
    return torch.einsum("d,dhw->hw", q, F.normalize(tgt, dim=0)).cpu()


def _display(image: torch.Tensor) -> np.ndarray:
    """First channel of a (normalised) image rescaled to [0, 1] for display."""
    grey = image[0].float().cpu().numpy()
    lo, hi = float(grey.min()), float(grey.max())
    return (grey - lo) / (hi - lo) if hi > lo else np.zeros_like(grey)


def save_attention_png(image: torch.Tensor, attention: torch.Tensor, path: str | Path, title: str = "") -> Path:
    """Write the image, the head-averaged CLS attention overlay and every head's map to one PNG.

    Args:
        image: ``(3, H, W)`` image the maps were computed on.
        attention: ``(heads, H, W)`` from :func:`cls_attention`.
        path: output ``.png`` path (parent folders are created).
        title: figure title.

    Returns:
        the written path.
    """
    plt = agg_pyplot()
    heads = attention.shape[0]
    cols = min(heads, 6)
    rows = 1 + (heads + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(_display(image), cmap="gray")
    axes[0, 0].set_title("image", fontsize=8)
    if cols > 1:
        axes[0, 1].imshow(_display(image), cmap="gray")
        axes[0, 1].imshow(attention.mean(0).numpy(), cmap="inferno", alpha=0.5)
        axes[0, 1].set_title("mean CLS attention", fontsize=8)
    for k in range(heads):
        ax = axes[1 + k // cols, k % cols]
        ax.imshow(attention[k].numpy(), cmap="inferno")
        ax.set_title(f"head {k}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def save_patch_similarity_png(
    source: torch.Tensor,
    target: torch.Tensor,
    similarity: torch.Tensor,
    query: tuple[int, int],
    patch_size: int,
    path: str | Path,
) -> Path:
    """Write source (query patch boxed) and target (similarity overlay) side by side to one PNG.

    Args:
        source: ``(3, H, W)`` source image.
        target: ``(3, H', W')`` target image.
        similarity: ``(h', w')`` from :func:`patch_similarity`.
        query: ``(row, col)`` of the query patch.
        patch_size: the backbone's patch size (to draw the query box and upsample the map).
        path: output ``.png`` path.

    Returns:
        the written path.
    """
    from matplotlib.patches import Rectangle

    plt = agg_pyplot()

    fig, (ax_s, ax_t) = plt.subplots(1, 2, figsize=(7, 3.6))
    ax_s.imshow(_display(source), cmap="gray")
    row, col = query
    ax_s.add_patch(Rectangle((col * patch_size, row * patch_size), patch_size, patch_size, fill=False, color="red"))
    ax_s.set_title(f"query patch {query}", fontsize=8)
    up = np.kron(similarity.numpy(), np.ones((patch_size, patch_size)))
    ax_t.imshow(_display(target), cmap="gray")
    shown = ax_t.imshow(up, cmap="viridis", alpha=0.55, vmin=-1.0, vmax=1.0)
    fig.colorbar(shown, ax=ax_t, fraction=0.046)
    ax_t.set_title("cosine similarity to the query", fontsize=8)
    for ax in (ax_s, ax_t):
        ax.axis("off")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out

"""Patch correspondence: cosine similarity of every patch of a target image to one query patch of a source image.

The dense "which patch matches this one" view of DINOv2 features (Oquab et al. 2023 match patches across images the
same way, by the similarity of patch tokens, in their figure on matching across images).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from raddino_monai.models import RadDinoBackbone
from raddino_monai.visualize.figure import agg_pyplot, display_image, save_figure

__all__ = ["patch_similarity", "save_patch_similarity_png"]


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


def save_patch_similarity_png(
    source: torch.Tensor,
    target: torch.Tensor,
    similarity: torch.Tensor,
    query: tuple[int, int],
    patch_size: int,
    path: str | Path,
) -> Path:
    """Write source (query patch boxed) and target (similarity overlay, best match boxed, colour bar) to one PNG.

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
    ax_s.imshow(display_image(source), cmap="gray")
    row, col = query
    ax_s.add_patch(Rectangle((col * patch_size, row * patch_size), patch_size, patch_size, fill=False, color="red"))
    ax_s.set_title(f"source: query patch (row {row}, col {col}) in red", fontsize=8)
    sim = similarity.numpy()
    up = np.kron(sim, np.ones((patch_size, patch_size)))
    ax_t.imshow(display_image(target), cmap="gray")
    # the colour range is the map's own (similarities of one encoder cluster in a narrow band); the bar gives values
    shown = ax_t.imshow(up, cmap="viridis", alpha=0.55, vmin=float(sim.min()), vmax=float(sim.max()))
    best_row, best_col = np.unravel_index(int(np.argmax(sim)), sim.shape)
    ax_t.add_patch(Rectangle((best_col * patch_size, best_row * patch_size), patch_size, patch_size, fill=False,
                             color="red"))
    bar = fig.colorbar(shown, ax=ax_t, fraction=0.046)
    bar.ax.tick_params(labelsize=6)
    bar.set_label("cosine similarity to the query patch", fontsize=7)
    ax_t.set_title(f"target: best match (red) at row {best_row}, col {best_col}, cos {sim.max():.3f}", fontsize=8)
    for ax in (ax_s, ax_t):
        ax.axis("off")
    return save_figure(fig, path)

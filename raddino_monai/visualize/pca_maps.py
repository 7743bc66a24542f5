"""PCA of patch features as RGB (DINOv2 Fig. 1 style): one PCA across a grid of images, so alike parts share a colour.

The recipe of DINOv2 (Oquab et al. 2023, Fig. 1 caption and §7: "we compute a PCA between the patches of the images
[...] Background is removed by thresholding the first PCA component"; the code of ``notebooks/features.ipynb`` on
branch ``add-features-pca-nb``, PR #187):

1. the patch tokens of all images, stacked: ``(B * h * w, D)``;
2. the first principal component is the foreground score, fitted on each image's patches (default) or on all of them
   (``foreground_pca="joint"``); patches at or below ``background_threshold`` (default 0, the paper's "negative
   score", Fig. 9 caption) are background. PCA fixes a component only up to its sign: we orient it so that the patches
   on the grid border (the outside of the body in a CXR crop) score lower than the inner ones on average (ours;
   DINOv2's notebook projects onto a precomputed ``standard.npy`` direction instead);
3. a second PCA (3 components, whitened) on the foreground patches of all images together; each patch's 3 values
   become R, G, B through ``sigmoid(2 z)`` (DINOv2 notebook) or a shared min-max scaling; background is black.

Fitting on the stacked patches of every image is what makes the colours comparable: the same features give the same
colour in every image of the grid (an image and its copy get identical maps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA

from raddino_monai.models import RadDinoBackbone
from raddino_monai.visualize.figure import agg_pyplot, display_image, save_figure

__all__ = ["COLOUR_SCALINGS", "FOREGROUND_SCORES", "PatchPCA", "patch_features", "patch_pca_rgb", "save_pca_png"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-2.0 * z))


def _minmax(z: np.ndarray) -> np.ndarray:
    lo, hi = z.min(axis=0, keepdims=True), z.max(axis=0, keepdims=True)
    return (z - lo) / np.where(hi > lo, hi - lo, 1.0)


#: whitened PCA values of the foreground patches (M, 3) -> RGB in [0, 1], one scaling for all images:
#: ``"sigmoid"`` = sigmoid(2 z) ([DV2] features notebook), ``"minmax"`` = per component over the foreground patches.
COLOUR_SCALINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"sigmoid": _sigmoid, "minmax": _minmax}


@dataclass
class PatchPCA:
    """Result of :func:`patch_pca_rgb` for ``B`` images with an ``h x w`` patch grid.

    Args:
        rgb: ``(B, h, w, 3)`` colours in ``[0, 1]``; background patches are 0 (black).
        foreground: ``(B, h, w)`` bool, True where the first component is above the threshold.
        first_component: ``(B, h, w)`` the (oriented) first principal component of all patches.
        explained_variance_ratio: ``(3,)`` variance share of the colour components among the foreground patches.
        threshold: the background threshold on ``first_component`` (None: no background removed).
    """

    rgb: np.ndarray
    foreground: np.ndarray
    first_component: np.ndarray
    explained_variance_ratio: np.ndarray
    threshold: float | None


@torch.no_grad()
def patch_features(backbone: RadDinoBackbone, images: torch.Tensor, batch_size: int = 8) -> np.ndarray:
    """Normed last-layer patch tokens of preprocessed images, as a grid.

    Args:
        backbone: the encoder (put in eval mode here).
        images: ``(B, 3, H, W)`` preprocessed images of one size.
        batch_size: images per forward pass.

    Returns:
        ``(B, D, h, w)`` float32 (``forward_features(x)["patch_grid"]``).
    """
    backbone.eval()
    device = next(backbone.parameters()).device
    grids = [backbone.forward_features(x.to(device))["patch_grid"].float().cpu() for x in images.split(batch_size)]
    return torch.cat(grids).numpy()


def _border(shape: tuple[int, int, int]) -> np.ndarray:
    border = np.zeros(shape, dtype=bool)
    border[:, 0, :] = border[:, -1, :] = border[:, :, 0] = border[:, :, -1] = True
    return border


def _first_component(x: np.ndarray) -> np.ndarray:
    """First principal component ``(b, h, w)`` of the patches of ``x (b, h, w, D)``, border patches scoring low."""
    b, h, w, d = x.shape
    scores = PCA(n_components=1).fit_transform(x.reshape(-1, d))[:, 0].reshape(b, h, w)
    border = _border((b, h, w))
    if h > 2 and w > 2 and scores[border].mean() > scores[~border].mean():
        return -scores  # PCA fixes the sign arbitrarily; orient it: the grid border (outside the body) scores low
    return scores


def _joint_scores(x: np.ndarray) -> np.ndarray:
    return _first_component(x)


def _per_image_scores(x: np.ndarray) -> np.ndarray:
    return np.concatenate([_first_component(x[i : i + 1]) for i in range(len(x))])


#: how the foreground score (first component) is fitted, on ``(b, h, w, D)`` patches -> ``(b, h, w)``:
#: ``"per_image"`` = each image's own PCA (image-level differences such as exposure cannot dominate it; the reading of
#: the paper in DINOv2 issue #45), ``"joint"`` = one PCA over the patches of all images.
FOREGROUND_SCORES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "per_image": _per_image_scores,
    "joint": _joint_scores,
}


def patch_pca_rgb(
    features: np.ndarray | torch.Tensor,
    background_threshold: float | None = 0.0,
    scaling: str = "sigmoid",
    foreground_pca: str = "per_image",
) -> PatchPCA:
    """RGB map of patch features from one PCA over every patch of every image (module docstring for the recipe).

    Args:
        features: ``(B, D, h, w)`` patch grids (:func:`patch_features`), ``h, w >= 3`` when thresholding.
        background_threshold: patches whose oriented first component is ``<=`` this are background; ``None`` keeps
            every patch (no background removal).
        scaling: a key of :data:`COLOUR_SCALINGS`.
        foreground_pca: a key of :data:`FOREGROUND_SCORES` (where the first component is fitted).

    Returns:
        :class:`PatchPCA`.

    Raises:
        ValueError: ``features`` is not 4-D, ``scaling`` or ``foreground_pca`` is unknown (valid values listed), or
            fewer than 3 patches are foreground.

    Example::

        >>> result = patch_pca_rgb(np.random.rand(2, 16, 4, 4))
        >>> result.rgb.shape, result.foreground.shape
        ((2, 4, 4, 3), (2, 4, 4))
    """
    if scaling not in COLOUR_SCALINGS:
        raise ValueError(f"scaling {scaling!r}; valid values: {list(COLOUR_SCALINGS)}.")
    if foreground_pca not in FOREGROUND_SCORES:
        raise ValueError(f"foreground_pca {foreground_pca!r}; valid values: {list(FOREGROUND_SCORES)}.")
    grid = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    if grid.ndim != 4:
        raise ValueError(f"patch_pca_rgb expects (B, D, h, w) patch grids, found shape {grid.shape}.")
    b, d, h, w = grid.shape
    x = grid.transpose(0, 2, 3, 1).reshape(-1, d).astype(np.float64)  # (B*h*w, D), row-major patches
    first = FOREGROUND_SCORES[foreground_pca](x.reshape(b, h, w, d))
    foreground = first > background_threshold if background_threshold is not None else np.ones_like(first, bool)
    n_fg = int(foreground.sum())
    if n_fg < 3:
        raise ValueError(
            f"only {n_fg} of {foreground.size} patches have a first principal component above "
            f"background_threshold={background_threshold}; lower the threshold or pass None (no background removal)."
        )
    fg_rows = foreground.reshape(-1)
    colour_pca = PCA(n_components=3, whiten=True).fit(x[fg_rows])
    rgb = np.zeros((b * h * w, 3))
    rgb[fg_rows] = COLOUR_SCALINGS[scaling](colour_pca.transform(x[fg_rows]))
    return PatchPCA(
        rgb=rgb.reshape(b, h, w, 3),
        foreground=foreground,
        first_component=first,
        explained_variance_ratio=colour_pca.explained_variance_ratio_.copy(),
        threshold=background_threshold,
    )


def _upsample(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest upsampling of ``(h, w[, C])`` to ``size`` (each patch a block)."""
    rows = (np.arange(size[0]) * grid.shape[0]) // size[0]
    cols = (np.arange(size[1]) * grid.shape[1]) // size[1]
    return grid[rows][:, cols]


def save_pca_png(
    images: torch.Tensor, result: PatchPCA, path: str | Path, titles: Sequence[str] | None = None, title: str = ""
) -> Path:
    """Write images, their PCA colour maps and the first component (foreground score) as one grid PNG.

    Args:
        images: ``(B, 3, H, W)`` the images the features came from.
        result: :func:`patch_pca_rgb` of their features.
        path: output ``.png``.
        titles: one caption per image (e.g. file names); default ``image 0, 1, ...``.
        title: first line of the figure title (e.g. the encoder).

    Returns:
        the written path.
    """
    plt = agg_pyplot()
    b = images.shape[0]
    size = tuple(images.shape[-2:])
    fig, axes = plt.subplots(3, b, figsize=(2.3 * b + 0.9, 7.4), squeeze=False)
    limit = float(np.abs(result.first_component).max()) or 1.0
    for i in range(b):
        axes[0, i].imshow(display_image(images[i]), cmap="gray")
        axes[0, i].set_title((titles[i] if titles else f"image {i}")[:28], fontsize=7)
        axes[1, i].imshow(_upsample(result.rgb[i], size), interpolation="nearest")
        score = axes[2, i].imshow(_upsample(result.first_component[i], size), cmap="coolwarm", vmin=-limit, vmax=limit)
        if result.threshold is not None:
            axes[2, i].contour(_upsample(result.foreground[i].astype(float), size), levels=[0.5], colors="k",
                               linewidths=0.6)
        for row in range(3):
            axes[row, i].set_xticks([]), axes[row, i].set_yticks([])
    axes[1, 0].set_ylabel("PCA components 1-3\nof foreground = R, G, B", fontsize=7)
    axes[2, 0].set_ylabel("1st principal component\n(foreground score)", fontsize=7)
    bar = fig.colorbar(score, ax=list(axes[2]), fraction=0.03, pad=0.01)
    bar.ax.tick_params(labelsize=6)
    bar.set_label("1st principal component", fontsize=7)
    ratio = ", ".join(f"{100 * r:.0f} %" for r in result.explained_variance_ratio)
    background = ("no background removed" if result.threshold is None else
                  f"background (black; outside the contour) = 1st component <= {result.threshold:g}")
    fig.suptitle(f"{title + ': ' if title else ''}PCA of patch features, one PCA across the {b} images "
                 f"(same colour = similar features)\n{background}; colour components explain {ratio} of the "
                 "foreground variance", fontsize=8)
    return save_figure(fig, path)

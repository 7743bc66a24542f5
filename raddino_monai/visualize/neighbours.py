"""Image-to-image retrieval by CLS cosine similarity: nearest neighbours, same-label precision@k, and their grid figure.

The same retrieval as a k-NN classifier on frozen features (DINO's k-NN evaluation ranks by the cosine similarity of
L2-normalised features, Caron et al. 2021) and as the image-to-image retrieval of ConVIRT (Zhang et al. 2020, scored by
the precision@k of same-category neighbours), drawn as a grid: query, then its k neighbours with labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from raddino_monai.visualize.figure import agg_pyplot, display_image, save_figure

__all__ = ["cosine_similarity", "nearest_neighbours", "precision_at_k", "chance_precision", "save_neighbour_grid_png"]


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cosine_similarity(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """``(Q, N)`` cosine similarities between rows of ``queries (Q, D)`` and ``gallery (N, D)``."""
    return _normalise(queries) @ _normalise(gallery).T


def nearest_neighbours(
    queries: np.ndarray, gallery: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` gallery rows most similar (cosine) to each query, most similar first.

    Args:
        queries: ``(Q, D)`` features.
        gallery: ``(N, D)`` features.
        k: neighbours per query, ``1 <= k <=`` the number of allowed gallery rows.
        exclude: optional ``(Q, N)`` bool, True = never return that gallery row for that query (the query itself,
            images of the same patient).

    Returns:
        ``(indices (Q, k) int, similarities (Q, k) float)``; ties keep the lower gallery index first.

    Raises:
        ValueError: feature sizes differ, ``exclude`` has the wrong shape, or ``k`` is out of range.

    Example::

        >>> feats = np.eye(3)
        >>> nearest_neighbours(feats, feats, k=1)[0].ravel().tolist()
        [0, 1, 2]
    """
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"nearest_neighbours: queries {queries.shape} and gallery {gallery.shape} must be (Q, D) and (N, D)."
        )
    sims = cosine_similarity(queries, gallery)
    if exclude is not None:
        if exclude.shape != sims.shape:
            raise ValueError(f"exclude must have shape {sims.shape} (queries, gallery), found {exclude.shape}.")
        sims = np.where(exclude, -np.inf, sims)
    allowed = int(np.isfinite(sims).sum(axis=1).min())
    if not 1 <= k <= allowed:
        raise ValueError(f"k={k} must be between 1 and {allowed} (the gallery rows every query may return).")
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def precision_at_k(query_labels: Sequence[object], gallery_labels: Sequence[object], indices: np.ndarray) -> float:
    """Mean over queries of the share of their ``k`` neighbours whose label equals the query's label.

    Args:
        query_labels: ``Q`` labels.
        gallery_labels: ``N`` labels.
        indices: ``(Q, k)`` from :func:`nearest_neighbours`.

    Returns:
        precision@k in ``[0, 1]``.
    """
    gallery = np.asarray(list(gallery_labels), dtype=object)
    same = gallery[indices] == np.asarray(list(query_labels), dtype=object)[:, None]
    return float(same.mean())


def chance_precision(labels: Sequence[object]) -> float:
    """Expected leave-one-out precision@k of random retrieval: ``sum_c n_c (n_c - 1) / (N (N - 1))``."""
    _, counts = np.unique(np.asarray([str(v) for v in labels]), return_counts=True)
    n = counts.sum()
    return float((counts * (counts - 1)).sum() / (n * (n - 1))) if n > 1 else 0.0


def save_neighbour_grid_png(
    query_images: Sequence[torch.Tensor],
    neighbour_images: Sequence[Sequence[torch.Tensor]],
    query_labels: Sequence[str],
    neighbour_labels: Sequence[Sequence[str]],
    similarities: np.ndarray,
    path: str | Path,
    title: str = "",
) -> Path:
    """One row per query: the query, then its neighbours with label and similarity; same-label frames green, others red.

    Args:
        query_images: ``Q`` images ``(C, H, W)``.
        neighbour_images: ``Q`` lists of ``k`` images.
        query_labels: ``Q`` labels.
        neighbour_labels: ``Q`` lists of ``k`` labels.
        similarities: ``(Q, k)`` cosine similarities.
        path: output ``.png``.
        title: figure title (put the precision@k here).

    Returns:
        the written path.
    """
    plt = agg_pyplot()
    q, k = similarities.shape
    fig, axes = plt.subplots(q, k + 1, figsize=(1.75 * (k + 1), 1.95 * q + 0.5), squeeze=False)
    for i in range(q):
        axes[i, 0].imshow(display_image(query_images[i]), cmap="gray")
        axes[i, 0].set_title(f"query\n{query_labels[i]}"[:40], fontsize=7, fontweight="bold")
        for j in range(k):
            ax = axes[i, j + 1]
            ax.imshow(display_image(neighbour_images[i][j]), cmap="gray")
            same = neighbour_labels[i][j] == query_labels[i]
            ax.set_title(f"#{j + 1} {neighbour_labels[i][j]}"[:24] + f"\ncos {similarities[i, j]:.3f}", fontsize=7,
                         color="darkgreen" if same else "firebrick")
            for spine in ax.spines.values():
                spine.set_edgecolor("limegreen" if same else "red")
                spine.set_linewidth(2.5)
        for ax in axes[i]:
            ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(title, fontsize=8)
    return save_figure(fig, path)

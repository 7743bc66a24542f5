"""Embedding maps: 2-D PCA or t-SNE of CLS features coloured by metadata, one panel per key, encoders side by side.

What a reader of RAD-DINO's metadata probes ([PAPER] §4.4: sex, age, weight, BMI are linearly decodable from the CLS
token) and of a linear-probe table would want to see: whether images of one view, sex, age group or finding form
regions of the embedding. Each panel also prints a number that does not depend on the 2-D projection: the k-NN
agreement, the share of each image's ``k`` nearest neighbours in the full CLS space (cosine) with the same value of the
key, next to its chance level.

Features are L2-normalised before projecting (cosine geometry, as the k-NN evaluation of DINO). Numeric keys with bin
edges (``age``, ``weight``, ``bmi``: :data:`raddino_monai.evaluation.DEFAULT_BIN_EDGES`, the metadata probes' bins)
are shown as bins; missing values are grey ``unknown``; a key with more than ``max_categories`` values keeps the most
frequent ones and groups the rest as ``other``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from raddino_monai.evaluation import DEFAULT_BIN_EDGES, bin_values
from raddino_monai.visualize.figure import agg_pyplot, save_figure
from raddino_monai.visualize.neighbours import chance_precision, nearest_neighbours, precision_at_k

__all__ = ["PROJECTIONS", "UNKNOWN", "metadata_labels", "project_2d", "knn_agreement", "save_embedding_map_png"]

UNKNOWN = "unknown"
OTHER = "other"


def _missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _bin_names(edges: Sequence[float]) -> list[str]:
    e = [f"{x:g}" for x in edges]
    return [f"< {e[0]}"] + [f"{a}-{b}" for a, b in zip(e[:-1], e[1:])] + [f">= {e[-1]}"]


def metadata_labels(
    items: Sequence[Mapping[str, Any]],
    key: str,
    bin_edges: Mapping[str, Sequence[float]] = DEFAULT_BIN_EDGES,
    max_categories: int = 10,
) -> list[str]:
    """One display label per item for ``key``: bins for numeric keys with edges, else the value as text.

    Args:
        items: datalist items.
        key: metadata key (``sex``, ``age``, ``view``, ``finding``, ...).
        bin_edges: inner bin edges per numeric key.
        max_categories: most frequent values kept; the rest become ``"other"``.

    Returns:
        ``len(items)`` strings; missing values are ``"unknown"``.

    Raises:
        KeyError: no item has ``key`` (the keys found are listed).
        ValueError: a value of a binned key is not a number (the item index is named).
    """
    if not any(key in it for it in items):
        found = sorted({k for it in items for k in it})
        raise KeyError(f"metadata key {key!r} is in no item; keys found: {found}.")
    values = [it.get(key) for it in items]
    if key in bin_edges:
        names = _bin_names(bin_edges[key])
        labels = []
        for i, v in enumerate(values):
            if _missing(v):
                labels.append(UNKNOWN)
                continue
            try:
                number = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"item {i}: {key}={v!r} is not a number (expected for binned key {key!r})") from None
            labels.append(f"{key} {names[int(bin_values(np.array([number]), bin_edges[key])[0])]}")
        return labels
    labels = [UNKNOWN if _missing(v) else str(v) for v in values]
    common = {v for v, _ in Counter(x for x in labels if x != UNKNOWN).most_common(max_categories)}
    return [x if x in common or x == UNKNOWN else OTHER for x in labels]


def _pca_2d(x: np.ndarray, seed: int) -> tuple[np.ndarray, tuple[str, str]]:
    pca = PCA(n_components=2, random_state=seed).fit(x)
    r = pca.explained_variance_ratio_
    return pca.transform(x), (f"PC 1 ({100 * r[0]:.1f} % of variance)", f"PC 2 ({100 * r[1]:.1f} % of variance)")


def _tsne_2d(x: np.ndarray, seed: int) -> tuple[np.ndarray, tuple[str, str]]:
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))  # sklearn default 30, capped for small sets
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    return coords, (f"t-SNE 1 (perplexity {perplexity:.0f})", "t-SNE 2")


#: method -> (L2-normalised features (N, D), seed) -> (coordinates (N, 2), axis labels).
PROJECTIONS: dict[str, Callable[[np.ndarray, int], tuple[np.ndarray, tuple[str, str]]]] = {
    "pca": _pca_2d,
    "tsne": _tsne_2d,
}

_METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE"}


def project_2d(features: np.ndarray, method: str = "pca", seed: int = 0) -> tuple[np.ndarray, tuple[str, str]]:
    """2-D map of L2-normalised features.

    Args:
        features: ``(N, D)``, ``N >= 3``.
        method: a key of :data:`PROJECTIONS`.
        seed: random state (t-SNE initialisation is PCA, so results are reproducible).

    Returns:
        ``(coords (N, 2), (x label, y label))``.

    Raises:
        ValueError: unknown method (valid values listed) or fewer than 3 rows.
    """
    if method not in PROJECTIONS:
        raise ValueError(f"projection {method!r}; valid values: {list(PROJECTIONS)}.")
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"project_2d needs (N, D) features with N >= 3, found shape {x.shape}.")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return PROJECTIONS[method](x, seed)


def knn_agreement(features: np.ndarray, labels: Sequence[str], k: int = 10) -> tuple[float, float, int]:
    """Leave-one-out k-NN agreement of ``labels`` in the full feature space, and its chance level.

    Only items with a known label take part (as queries and as neighbours); ``k`` shrinks to their count - 1.

    Returns:
        ``(share of the k nearest neighbours with the query's label, chance level, k used)``; ``(nan, nan, 0)`` when
        fewer than 2 items have a known label.
    """
    known = np.array([lab != UNKNOWN for lab in labels])
    if known.sum() < 2:
        return math.nan, math.nan, 0
    x, lab = np.asarray(features)[known], [lb for lb, ok in zip(labels, known) if ok]
    k = min(k, len(lab) - 1)
    indices, _ = nearest_neighbours(x, x, k, exclude=np.eye(len(lab), dtype=bool))
    return precision_at_k(lab, lab, indices), chance_precision(lab), k


def save_embedding_map_png(
    features: Mapping[str, np.ndarray],
    labels: Mapping[str, Sequence[str]],
    path: str | Path,
    method: str = "pca",
    k: int = 10,
    seed: int = 0,
    title: str = "",
) -> Path:
    """Rows = metadata keys, columns = encoders: the 2-D map of each encoder coloured by each key.

    Args:
        features: encoder name -> ``(N, D)`` CLS features of the same ``N`` images (same order).
        labels: key -> ``N`` labels (:func:`metadata_labels`).
        path: output ``.png``.
        method: a key of :data:`PROJECTIONS`.
        k: neighbours of the k-NN agreement in each panel title.
        seed: projection seed.
        title: first line of the figure title (e.g. the datalist).

    Returns:
        the written path.

    Raises:
        ValueError: feature and label counts differ (the encoder or key is named), or no encoder / key is given.
    """
    if not features or not labels:
        raise ValueError("save_embedding_map_png needs at least one encoder and one metadata key.")
    n = {name: len(f) for name, f in features.items()}
    for key, lab in labels.items():
        bad = {name: m for name, m in n.items() if m != len(lab)}
        if bad:
            raise ValueError(f"key {key!r} has {len(lab)} labels but the features of {bad} have other row counts.")
    plt = agg_pyplot()
    keys, encoders = list(labels), list(features)
    fig, axes = plt.subplots(len(keys), len(encoders), figsize=(3.6 * len(encoders) + 1.6, 3.3 * len(keys)),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    for col, name in enumerate(encoders):
        coords, (xlabel, ylabel) = project_2d(features[name], method, seed)
        for row, key in enumerate(keys):
            ax, lab = axes[row, col], np.asarray(labels[key], dtype=object)
            counts = Counter(lab.tolist())
            categories = sorted(c for c in counts if c not in (UNKNOWN, OTHER)) + [c for c in (OTHER, UNKNOWN)
                                                                                  if c in counts]
            for i, cat in enumerate(categories):
                colour = "lightgrey" if cat == UNKNOWN else ("dimgrey" if cat == OTHER else cmap(i % 10))
                sel = lab == cat
                ax.scatter(coords[sel, 0], coords[sel, 1], s=14, color=colour, edgecolors="white", linewidths=0.3,
                           label=f"{cat} ({counts[cat]})", zorder=1 if cat == UNKNOWN else 2)
            agreement, chance, k_used = knn_agreement(features[name], list(lab), k)
            known = sum(counts[c] for c in counts if c != UNKNOWN)
            ax.set_title(f"{name} — colour: {key}\n{k_used}-NN same-{key} share {agreement:.2f} "
                         f"(chance {chance:.2f}, {known} known)", fontsize=8)
            ax.set_xlabel(xlabel, fontsize=7)
            ax.set_ylabel(ylabel, fontsize=7)
            ax.tick_params(labelsize=6)
            if col == len(encoders) - 1:
                ax.legend(fontsize=7, title=key, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                          frameon=False)
    size = len(next(iter(features.values())))
    fig.suptitle(f"{title + ': ' if title else ''}{_METHOD_NAMES.get(method, method)} of L2-normalised CLS "
                 f"embeddings, {size} images; each row coloured by one metadata key (counts in the legend)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save_figure(fig, path)

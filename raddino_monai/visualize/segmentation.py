"""Segmentation figure: input, ground-truth overlay, prediction overlay and the error map, per-image Dice in the titles.

Rows are test images picked across the Dice ranking (the worst, the best and evenly spaced ranks between), so that a
reader sees failures next to successes rather than the best cases only. Drawn at the network resolution, the
resolution at which :func:`raddino_monai.evaluation.evaluate_segmentation` scores Dice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raddino_monai.visualize.figure import agg_pyplot, display_image, save_figure

__all__ = ["STRUCTURE_COLOURS", "spread_by_rank", "overlay", "error_map", "save_segmentation_figure"]

#: RGB colours of the scored structures in overlays (matplotlib tab10 order, ours).
STRUCTURE_COLOURS: tuple[tuple[float, float, float], ...] = (
    (0.12, 0.47, 0.71), (1.0, 0.50, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16), (0.58, 0.40, 0.74),
    (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.50, 0.50, 0.50), (0.74, 0.74, 0.13), (0.09, 0.75, 0.81),
)

#: error-map colours: true positive, false positive, false negative.
_TP, _FP, _FN = (0.2, 0.75, 0.2), (0.9, 0.1, 0.1), (0.15, 0.35, 1.0)


def spread_by_rank(values: Sequence[float], n: int) -> list[int]:
    """Indices of ``n`` items at evenly spaced ranks of ``values`` (lowest and highest included), lowest first.

    Example:
        >>> spread_by_rank([0.9, 0.1, 0.5, 0.7, 0.3], 3)
        [1, 2, 0]
    """
    order = np.argsort(np.asarray(values, dtype=float), kind="stable")
    n = min(n, len(order))
    if n <= 0:
        return []
    ranks = np.unique(np.round(np.linspace(0, len(order) - 1, n)).astype(int))
    return [int(order[r]) for r in ranks]


def overlay(grey: np.ndarray, masks: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend binary masks ``(C, H, W)`` over a grey image ``(H, W)`` in ``[0, 1]``: ``(H, W, 3)`` RGB."""
    rgb = np.repeat(np.clip(grey, 0, 1)[..., None], 3, axis=-1)
    for c, m in enumerate(np.asarray(masks) > 0):
        rgb[m] = (1 - alpha) * rgb[m] + alpha * np.asarray(STRUCTURE_COLOURS[c % len(STRUCTURE_COLOURS)])
    return rgb


def error_map(grey: np.ndarray, target: np.ndarray, prediction: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """True positives green, false positives red, false negatives blue over the grey image (any structure)."""
    t, p = np.asarray(target) > 0, np.asarray(prediction) > 0
    rgb = np.repeat(np.clip(grey, 0, 1)[..., None] * 0.8, 3, axis=-1)
    for mask, colour in (((t & p).any(0), _TP), ((p & ~t).any(0), _FP), ((t & ~p).any(0), _FN)):
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * np.asarray(colour)
    return rgb


def _array(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def save_segmentation_figure(
    examples: Sequence[Mapping[str, Any]], structures: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """One row per example: input, ground truth, prediction (structure colours) and the error map.

    Args:
        examples: dicts with ``"image"`` (path, for the title), ``"input"`` ``(C, S, S)``, ``"target"`` and
            ``"prediction"`` ``(C', S, S)`` binary, ``"dice"`` ``(C',)`` (as from
            :func:`raddino_monai.evaluation.segmentation_examples`).
        structures: the ``C'`` scored structure names.
        path: output ``.png``.
        title: first line of the figure title (e.g. head and encoder).

    Returns:
        the written path.

    Raises:
        ValueError: no examples, or a mask's channel count differs from ``len(structures)``.
    """
    if not examples:
        raise ValueError("save_segmentation_figure needs at least one example.")
    plt = agg_pyplot()
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(len(examples), 4, figsize=(10.4, 3.05 * len(examples) + 0.6), squeeze=False)
    for row, ex in enumerate(examples):
        target, prediction, dice = _array(ex["target"]), _array(ex["prediction"]), _array(ex["dice"]).ravel()
        if target.shape[0] != len(structures) or prediction.shape != target.shape:
            raise ValueError(f"{ex['image']}: masks {target.shape} / {prediction.shape} do not match the "
                             f"{len(structures)} structures {list(structures)}.")
        grey = display_image(ex["input"])
        per_structure = ", ".join(f"{s} {d:.3f}" for s, d in zip(structures, dice))
        name = Path(str(ex["image"])).name
        panels = (
            (np.repeat(grey[..., None], 3, axis=-1), f"{name[:30]}\n(network input {grey.shape[0]} px)"),
            (overlay(grey, target), "ground truth"),
            (overlay(grey, prediction), f"prediction — Dice {float(dice.mean()):.3f}" +
             (f"\n({per_structure})" if len(structures) > 1 else "")),
            (error_map(grey, target, prediction), "errors: green TP, red FP, blue FN"),
        )
        for ax, (rgb, text) in zip(axes[row], panels):
            ax.imshow(rgb)
            ax.set_title(text, fontsize=8)
            ax.axis("off")
    handles = [Patch(color=STRUCTURE_COLOURS[i % len(STRUCTURE_COLOURS)], label=s) for i, s in enumerate(structures)]
    fig.legend(handles=handles, loc="lower center", ncol=max(1, len(handles)), fontsize=8, frameon=False,
               title="structure colours", title_fontsize=8)
    fig.suptitle(f"{title + ': ' if title else ''}{len(examples)} test images spread over the Dice ranking "
                 "(worst first, best last)", fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    return save_figure(fig, path)

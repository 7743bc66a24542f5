"""Evaluation metrics: per-class / macro AUPRC and AUROC (scikit-learn), accuracy, Dice (MONAI), mean ± std.

Classification targets and scores by task (:data:`TASKS`):

* ``"binary"``: ``y_true (N,)`` in {0, 1}, ``y_score (N,)`` probability of the positive class;
* ``"multiclass"``: ``y_true (N,)`` class indices, ``y_score (N, C)`` softmax probabilities;
* ``"multilabel"``: ``y_true (N, C)`` in {0, 1}, ``y_score (N, C)`` sigmoid probabilities.

AUPRC = ``sklearn.metrics.average_precision_score`` (the primary metric of RAD-DINO [PAPER] §4.2, Table 2-4),
AUROC = ``roc_auc_score``, both one-vs-rest per class; the macro value is the mean over the classes whose test
targets contain both values (a class with only positives or only negatives has no defined AUPRC/AUROC; it is
reported as NaN and left out of the macro mean).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from monai.metrics import DiceMetric
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from .tasks import TASKS

__all__ = ["TASKS", "one_vs_rest", "classification_metrics", "mean_std", "summarise_runs", "dice_per_image"]


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; valid values: {list(TASKS)}.")


def one_vs_rest(y_true: np.ndarray, y_score: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Bring targets and scores of any task to binary ``(N, C)`` matrices (C = 1 for ``"binary"``).

    Args:
        y_true: targets as described in the module docstring.
        y_score: scores as described in the module docstring.
        task: one of :data:`TASKS`.

    Returns:
        ``(targets (N, C) int, scores (N, C) float)``.

    Raises:
        ValueError: unknown task or inconsistent shapes.
    """
    _check_task(task)
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    if task == "binary":
        return y_true.reshape(-1, 1).astype(int), y_score.reshape(-1, 1)
    if task == "multiclass":
        if y_score.ndim != 2 or y_true.ndim != 1 or len(y_true) != len(y_score):
            raise ValueError(f"multiclass expects y_true (N,), y_score (N, C); found {y_true.shape}, {y_score.shape}.")
        onehot = np.zeros_like(y_score, dtype=int)
        onehot[np.arange(len(y_true)), y_true.astype(int)] = 1
        return onehot, y_score
    if y_true.shape != y_score.shape or y_true.ndim != 2:
        raise ValueError(
            f"multilabel expects y_true and y_score of one shape (N, C); found {y_true.shape}, {y_score.shape}."
        )
    return y_true.astype(int), y_score


def classification_metrics(
    y_true: np.ndarray, y_score: np.ndarray, task: str, class_names: Sequence[str]
) -> dict[str, float]:
    """Per-class and macro AUPRC / AUROC, plus accuracy for binary and multi-class tasks.

    Args:
        y_true: targets (module docstring).
        y_score: probabilities (module docstring).
        task: one of :data:`TASKS`.
        class_names: one name per output column (for ``"binary"`` one name: the positive class).

    Returns:
        ``{"auprc": macro, "auroc": macro, "auprc/<class>": ..., "auroc/<class>": ..., ["accuracy": ...]}``.

    Raises:
        ValueError: unknown task, or ``class_names`` does not match the number of columns.

    Example:
        >>> m = classification_metrics(np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.6, 0.3]), "binary", ["disease"])
        >>> m["auprc"], m["auroc"], m["accuracy"]
        (1.0, 1.0, 1.0)
    """
    targets, scores = one_vs_rest(y_true, y_score, task)
    if len(class_names) != targets.shape[1]:
        raise ValueError(
            f"class_names has {len(class_names)} names for {targets.shape[1]} score columns: {list(class_names)}."
        )
    out: dict[str, float] = {}
    auprc, auroc = [], []
    for c, name in enumerate(class_names):
        defined = 0 < targets[:, c].sum() < len(targets)
        ap = float(average_precision_score(targets[:, c], scores[:, c])) if defined else math.nan
        auc = float(roc_auc_score(targets[:, c], scores[:, c])) if defined else math.nan
        out[f"auprc/{name}"], out[f"auroc/{name}"] = ap, auc
        auprc.append(ap)
        auroc.append(auc)
    out["auprc"] = float(np.nanmean(auprc)) if not np.all(np.isnan(auprc)) else math.nan
    out["auroc"] = float(np.nanmean(auroc)) if not np.all(np.isnan(auroc)) else math.nan
    if task == "binary":
        out["accuracy"] = float(accuracy_score(targets[:, 0], scores[:, 0] >= 0.5))
    elif task == "multiclass":
        out["accuracy"] = float(accuracy_score(np.asarray(y_true).astype(int), scores.argmax(1)))
    return out


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value), ignoring NaN.

    Example:
        >>> mean_std([1.0, 3.0])
        (2.0, 1.4142135623730951)
    """
    arr = np.asarray([v for v in values if not math.isnan(float(v))], dtype=np.float64)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def summarise_runs(runs: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean ± std of every metric over runs (seeds or folds).

    Args:
        runs: one metric dict per run.

    Returns:
        metric name -> ``(mean, std)``, in the key order of the first run.
    """
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run if k not in keys)
    return {k: mean_std(run[k] for run in runs if k in run) for k in keys}


def dice_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Dice of every image and structure with MONAI ``DiceMetric`` (``reduction="none"``, ``ignore_empty=False``).

    Empty ground truth: MONAI with ``ignore_empty=False`` scores 1.0 when the prediction is empty too and 0.0 when it
    has any foreground pixel, so images without the structure are counted (not dropped) in the mean.

    Args:
        pred: binary masks ``(B, C, H, W)`` (one channel per scored structure, background excluded).
        target: binary masks of the same shape.

    Returns:
        ``(B, C)`` float Dice.

    Raises:
        ValueError: shapes differ.

    Example:
        >>> p = torch.zeros(1, 2, 4, 4); t = torch.zeros(1, 2, 4, 4); p[0, 0, :2] = 1; t[0, 0, :2] = 1
        >>> dice_per_image(p, t)
        tensor([[1., 1.]])
    """
    if pred.shape != target.shape:
        raise ValueError(f"dice_per_image: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ.")
    metric = DiceMetric(include_background=True, reduction="none", ignore_empty=False)
    return metric(pred.float(), target.float()).float()

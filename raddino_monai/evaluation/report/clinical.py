"""Clinical efficacy F1 of generated reports: labels of prediction vs labels of reference, per CheXpert observation.

Both reports are labelled (by the rule-based labeler or CheXbert), labels are made binary and compared per
observation. As in f1chexbert (the CheXbert F1 of report-generation work, ``report_results``):

* per-observation F1 = ``2 TP / (2 TP + FP + FN)``, and ``zero_division`` (f1chexbert: 1.0, sklearn's
  ``classification_report(zero_division=1.0)``) where the observation is positive in neither set;
* **macro-F1-14**: mean of the 14 per-observation F1 (No Finding included);
* **micro-F1-5**: F1 of the pooled counts over the 5 competition observations (Cardiomegaly, Edema, Consolidation,
  Atelectasis, Pleural Effusion); micro-F1-14 and macro-F1-5 are given too (CheXagent reports all four).

Binary labels: positive (1) is positive; negative, blank and, by default, uncertain (-1) are negative: [PAPER] maps
uncertain to negative for its macro-F1-14. ``uncertain="positive"`` gives f1chexbert's ``mode="rrg"``. All values
are percentages.

Example:
    >>> ref = np.array([[1, np.nan] + [np.nan] * 12, [np.nan, 1] + [np.nan] * 12])
    >>> round(clinical_f1(ref, ref)["macro_f1_14"], 1)
    100.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from raddino_monai.evaluation.report.observations import CHEXPERT_OBSERVATIONS, COMPETITION_OBSERVATIONS

__all__ = ["UNCERTAIN_POLICIES", "binarize", "f1_counts", "clinical_f1"]

#: how an uncertain label counts
UNCERTAIN_POLICIES: tuple[str, ...] = ("negative", "positive")
ZERO_DIVISION = 1.0  # f1chexbert: classification_report(..., zero_division=1.0)
_FIVE = [CHEXPERT_OBSERVATIONS.index(name) for name in COMPETITION_OBSERVATIONS]


def binarize(labels: np.ndarray, uncertain: str = "negative") -> np.ndarray:
    """``(N, 14)`` labels (1 / 0 / -1 / NaN) -> bool "asserted" matrix.

    Raises:
        ValueError: ``uncertain`` is not one of :data:`UNCERTAIN_POLICIES`.
    """
    if uncertain not in UNCERTAIN_POLICIES:
        raise ValueError(f"uncertain={uncertain!r} is not valid; valid values are {list(UNCERTAIN_POLICIES)}.")
    labels = np.asarray(labels, dtype=float)
    return (labels == 1) | ((labels == -1) if uncertain == "positive" else np.zeros_like(labels, dtype=bool))


def f1_counts(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-column TP, FP, FN of bool matrices ``(N, K)`` -> ``(K, 3)`` int array."""
    pred, ref = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    return np.stack([(pred & ref).sum(0), (pred & ~ref).sum(0), (~pred & ref).sum(0)], axis=1)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, zero_division: float) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), zero_division).astype(float)


def clinical_f1(
    pred_labels: np.ndarray,
    ref_labels: np.ndarray,
    uncertain: str = "negative",
    zero_division: float = ZERO_DIVISION,
    rows: Sequence[int] | np.ndarray | None = None,
) -> dict[str, float]:
    """Clinical F1 scores of predictions against references (percent).

    Args:
        pred_labels: ``(N, 14)`` labels of the generated reports (columns in ``CHEXPERT_OBSERVATIONS`` order).
        ref_labels: ``(N, 14)`` labels of the reference reports.
        uncertain: ``"negative"`` ([PAPER]) or ``"positive"`` (f1chexbert ``rrg`` mode).
        zero_division: F1 of an observation positive in neither set.
        rows: report indices to use (a bootstrap resample, with repetition); default all.

    Returns:
        ``macro_f1_14``, ``micro_f1_14``, ``macro_f1_5``, ``micro_f1_5`` and ``f1/<observation>`` for each of the 14.

    Raises:
        ValueError: shapes differ or are not ``(N, 14)``; invalid ``uncertain``.
    """
    pred, ref = np.asarray(pred_labels, dtype=float), np.asarray(ref_labels, dtype=float)
    if pred.shape != ref.shape or pred.ndim != 2 or pred.shape[1] != len(CHEXPERT_OBSERVATIONS):
        raise ValueError(f"labels should both be (N, {len(CHEXPERT_OBSERVATIONS)}), found {pred.shape} and "
                         f"{ref.shape}.")  # fmt: skip
    if rows is not None:
        pred, ref = pred[np.asarray(rows)], ref[np.asarray(rows)]
    counts = f1_counts(binarize(pred, uncertain), binarize(ref, uncertain))
    per_class = _f1(counts[:, 0], counts[:, 1], counts[:, 2], zero_division)
    pooled14, pooled5 = counts.sum(0), counts[_FIVE].sum(0)
    out = {
        "macro_f1_14": 100 * float(per_class.mean()),
        "micro_f1_14": 100 * float(_f1(*pooled14, zero_division)),
        "macro_f1_5": 100 * float(per_class[_FIVE].mean()),
        "micro_f1_5": 100 * float(_f1(*pooled5, zero_division)),
    }
    out.update({f"f1/{name}": 100 * float(v) for name, v in zip(CHEXPERT_OBSERVATIONS, per_class)})
    return out

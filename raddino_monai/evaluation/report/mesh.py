"""Validate a CheXpert labeler against the human-assigned MeSH terms of Open-i reports.

Open-i indexers attached MeSH headings with sub-terms to every report (``Cardiomegaly/borderline``,
``Opacity/lung/base/left``, ``normal`` for a normal study). They index what a report asserts, so a mapped heading
is a *positive* reference label; an observation without a mapped heading is treated as not asserted (negated and
unmentioned findings alike). Reports indexed ``No Indexing`` have no reference and are left out.

:data:`MESH_RULES` maps headings (optionally requiring a sub-term) to the 14 CheXpert observations; the choices
and their reasons are in ``docs/report_labeler.md``. :func:`agreement` compares labeler output with it per
observation: counts, precision, recall, F1, accuracy and Cohen's kappa.

Example::

    >>> reports = read_openi("NLMCXR_reports.tgz")
    >>> labels = CheXpertRuleLabeler().label_many(r.text("findings+impression") for r in reports)
    >>> rows = agreement(labels, [r.mesh_major for r in reports])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from raddino_monai.evaluation.report.observations import CHEXPERT_OBSERVATIONS, NO_FINDING

__all__ = ["MESH_RULES", "UNINDEXED", "mesh_observations", "agreement"]

#: (observation, MeSH main heading, required sub-term or None); a heading with sub-terms reads ``Heading/sub/sub``
MESH_RULES: tuple[tuple[str, str, str | None], ...] = (
    ("Enlarged Cardiomediastinum", "Mediastinum", "enlarged"),
    ("Enlarged Cardiomediastinum", "Mediastinum", "prominent"),
    ("Enlarged Cardiomediastinum", "Mediastinum", "widened"),
    ("Cardiomegaly", "Cardiomegaly", None),
    ("Cardiomegaly", "Cardiac Shadow", "enlarged"),
    ("Cardiomegaly", "Heart", "enlarged"),
    ("Lung Opacity", "Opacity", None),
    ("Lung Opacity", "Airspace Disease", None),
    ("Lung Opacity", "Infiltrate", None),
    ("Lung Opacity", "Density", "lung"),
    ("Lung Opacity", "Cicatrix", "lung"),
    ("Lung Opacity", "Markings", "prominent"),
    ("Lung Opacity", "Markings", "interstitial"),
    ("Lung Lesion", "Nodule", None),
    ("Lung Lesion", "Mass", None),
    ("Edema", "Pulmonary Edema", None),
    ("Edema", "Pulmonary Congestion", None),
    ("Edema", "Heart Failure", None),
    ("Consolidation", "Consolidation", None),
    ("Pneumonia", "Pneumonia", None),
    ("Atelectasis", "Pulmonary Atelectasis", None),
    ("Pneumothorax", "Pneumothorax", None),
    ("Pneumothorax", "Hydropneumothorax", None),
    ("Pneumothorax", "Hemopneumothorax", None),
    ("Pleural Effusion", "Pleural Effusion", None),
    ("Pleural Effusion", "Hydropneumothorax", None),
    ("Pleural Other", "Thickening", "pleura"),
    ("Pleural Other", "Pleura", None),
    ("Pleural Other", "Cicatrix", "pleura"),
    ("Pleural Other", "Pulmonary Fibrosis", None),
    ("Pleural Other", "Fibrosis", None),
    ("Fracture", "Fractures, Bone", None),
    ("Support Devices", "Catheters, Indwelling", None),
    ("Support Devices", "Tube, Inserted", None),
    ("Support Devices", "Implanted Medical Device", None),
    ("Support Devices", "Medical Device", None),
    ("Support Devices", "Stents", None),
)
#: the heading of reports the indexers did not index (no reference)
UNINDEXED = "No Indexing"


def mesh_observations(mesh_major: Sequence[str]) -> set[str] | None:
    """CheXpert observations asserted by one report's MeSH headings.

    Args:
        mesh_major: e.g. ``["Cardiomegaly/borderline", "Opacity/lung/base/left"]`` or ``["normal"]``.

    Returns:
        the observations (``{"No Finding"}`` for ``["normal"]``), or None for an unindexed report.
    """
    terms = [t.strip() for t in mesh_major if t.strip()]
    if not terms or any(t.lower() == UNINDEXED.lower() for t in terms):
        return None
    if [t.lower() for t in terms] == ["normal"]:
        return {NO_FINDING}
    found = set()
    for term in terms:
        heading, *subterms = [part.strip().lower() for part in term.split("/")]
        for observation, rule_heading, required in MESH_RULES:
            if heading == rule_heading.lower() and (required is None or required in subterms):
                found.add(observation)
    return found


def _kappa(tp: int, fp: int, fn: int, tn: int) -> float:
    n = tp + fp + fn + tn
    observed = (tp + tn) / n
    expected = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
    return float("nan") if expected == 1 else (observed - expected) / (1 - expected)


def agreement(
    labels: np.ndarray, mesh_major: Sequence[Sequence[str]], uncertain_as_positive: bool = False
) -> list[dict[str, Any]]:
    """Per-observation agreement of labeler output with the MeSH reference.

    Args:
        labels: ``(N, 14)`` labeler output (1 / 0 / -1 / NaN; columns in ``CHEXPERT_OBSERVATIONS`` order).
        mesh_major: the N reports' MeSH major headings.
        uncertain_as_positive: count an uncertain label (-1) as asserted (default: as not asserted, like the
            paper's macro-F1-14).

    Returns:
        one dict per observation: ``observation, n, reference_positive, labeler_positive, tp, fp, fn, tn,
        precision, recall, f1, accuracy, kappa`` (percentages for the ratios; NaN where undefined); unindexed
        reports are left out of every count.

    Raises:
        ValueError: ``labels`` is not ``(len(mesh_major), 14)``.
    """
    labels = np.asarray(labels, dtype=float)
    if labels.shape != (len(mesh_major), len(CHEXPERT_OBSERVATIONS)):
        raise ValueError(f"labels should have shape ({len(mesh_major)}, {len(CHEXPERT_OBSERVATIONS)}), "
                         f"found {labels.shape}.")  # fmt: skip
    references = [mesh_observations(m) for m in mesh_major]
    keep = np.array([r is not None for r in references])
    predicted = (labels == 1) | ((labels == -1) if uncertain_as_positive else False)
    rows = []
    for j, name in enumerate(CHEXPERT_OBSERVATIONS):
        ref = np.array([name in r for r in references if r is not None], dtype=bool)
        pred = predicted[keep, j]
        tp, fp = int((pred & ref).sum()), int((pred & ~ref).sum())
        fn, tn = int((~pred & ref).sum()), int((~pred & ~ref).sum())
        precision = 100 * tp / (tp + fp) if tp + fp else float("nan")
        recall = 100 * tp / (tp + fn) if tp + fn else float("nan")
        f1 = 100 * 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        rows.append({
            "observation": name, "n": int(ref.size), "reference_positive": int(ref.sum()),
            "labeler_positive": int(pred.sum()), "tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision,
            "recall": recall, "f1": f1, "accuracy": 100 * (tp + tn) / ref.size, "kappa": _kappa(tp, fp, fn, tn),
        })  # fmt: skip
    return rows

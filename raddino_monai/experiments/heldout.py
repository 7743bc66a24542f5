"""Held-out patients: split a datalist so that pretraining never sees an image of the patients it is judged on.

Frozen-feature evaluation of a pretrained encoder on the images it was pretrained on measures, in part, how well it
memorised them. Both experiments of this package (:mod:`.ssl_evidence` with ``heldout_fraction > 0`` and
:mod:`.compare_pretraining`) therefore cut the datalist by patient into a *pretraining* part and an *evaluation*
part (:func:`heldout_split`); every probe, retrieval and segmentation head is then trained and scored on the
evaluation part only, with its own patient-grouped folds or splits inside it.

Items without a patient id fall back to their image id (``id``, else the ``image`` path): each such image is its own
patient, which is only safe when no patient has several images; a warning with the count is logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from raddino_monai.data.splits import patient_split

__all__ = ["GROUP_KEY", "with_patient_groups", "heldout_split", "check_patient_disjoint"]

logger = logging.getLogger(__name__)

#: item key every evaluation of the library groups by (metadata-probe folds, label fractions, retrieval exclusion)
GROUP_KEY = "patient_id"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value)
    )


def with_patient_groups(items: Sequence[Mapping[str, Any]], patient_key: str = "patient_id") -> list[dict[str, Any]]:
    """Copies of ``items`` whose :data:`GROUP_KEY` holds the patient group: ``item[patient_key]``, or the image id
    when that is missing (logged as a warning with the count).

    Args:
        items: datalist items with ``image``.
        patient_key: item key of the patient id (e.g. ``"patient_id"``, ``"subject_id"``).

    Returns:
        shallow copies, in order, each with a string ``GROUP_KEY``.

    Example:
        >>> items = [{"image": "a.png", "case": 7}, {"image": "b.png"}]
        >>> [it["patient_id"] for it in with_patient_groups(items, "case")]
        ['7', 'b.png']
    """
    out, n_missing = [], 0
    for item in items:
        copy = dict(item)
        value = item.get(patient_key)
        if _missing(value):
            n_missing += 1
            value = item.get("id") or item.get("image")
        copy[GROUP_KEY] = str(value).strip()
        out.append(copy)
    if n_missing:
        logger.warning(
            "%d of %d items have no %r: each of them is its own patient (grouped by image id), so images of one "
            "person may fall on both sides of the pretraining / evaluation split.", n_missing, len(items), patient_key
        )
    return out


def heldout_split(
    items: Sequence[Mapping[str, Any]], eval_fraction: float = 0.5, seed: int = 0, patient_key: str = "patient_id",
    stratify_key: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Cut ``items`` by patient into a pretraining part and a held-out evaluation part.

    Args:
        items: datalist items with ``image``.
        eval_fraction: share of the *patients* held out for evaluation, in (0, 1).
        seed: seed of the patient order (:func:`raddino_monai.data.splits.patient_split`).
        patient_key: item key of the patient id; missing values fall back to the image id (:func:`with_patient_groups`).
        stratify_key: optional key (e.g. ``"label"``) whose distribution both parts should roughly keep.

    Returns:
        ``(pretrain_items, eval_items)``: patient-disjoint copies (with :data:`GROUP_KEY` set), datalist order.

    Raises:
        ValueError: ``eval_fraction`` outside (0, 1), or fewer than 2 patients.

    Example:
        >>> items = [{"image": f"{i}.png", "patient_id": i // 2} for i in range(20)]
        >>> pre, ev = heldout_split(items, 0.3)
        >>> len(pre), len(ev), {i["patient_id"] for i in pre} & {i["patient_id"] for i in ev}
        (14, 6, set())
    """
    if not 0.0 < float(eval_fraction) < 1.0:
        raise ValueError(f"heldout_split: eval_fraction must be in (0, 1), found {eval_fraction!r}.")
    grouped = with_patient_groups(items, patient_key)
    n_patients = len({it[GROUP_KEY] for it in grouped})
    if n_patients < 2:
        raise ValueError(f"heldout_split needs >= 2 patients (key {patient_key!r}), found {n_patients}.")
    parts = patient_split(grouped, {"pretrain": 1.0 - float(eval_fraction), "evaluation": float(eval_fraction)},
                          seed=seed, patient_key=GROUP_KEY, stratify_key=stratify_key)
    return parts["pretrain"], parts["evaluation"]


def check_patient_disjoint(
    pretrain_items: Sequence[Mapping[str, Any]], eval_items: Sequence[Mapping[str, Any]]
) -> None:
    """Raise when a patient or an image is in both parts (a guard before any evaluation is trusted).

    Raises:
        ValueError: shared patients (:data:`GROUP_KEY`) or image paths, a few of them named.
    """
    patients = {str(it.get(GROUP_KEY)) for it in pretrain_items} & {str(it.get(GROUP_KEY)) for it in eval_items}
    images = {str(it["image"]) for it in pretrain_items} & {str(it["image"]) for it in eval_items}
    if patients or images:
        raise ValueError(f"pretraining and evaluation items overlap: {len(patients)} patient(s) "
                         f"{sorted(patients)[:3]}, {len(images)} image(s) {sorted(images)[:3]}.")

"""Patient-level data splits: train/validation/test, nested label fractions and k-fold.

Every function here groups datalist items (see :mod:`raddino_monai.data.datalist`) by patient before assigning
them, so no patient ever appears in two parts. Patients are put in one reproducible random order that depends
only on the patient ids, the optional stratification values and ``seed`` (not on the order of the items), and
each function cuts that order:

* :func:`patient_split` cuts it into consecutive blocks sized by ``fractions`` (counted in patients);
* :func:`label_fraction` keeps its shortest prefix holding at least ``fraction`` of the images, so for one seed the
  1 % subset is contained in the 10 % subset, which is contained in the full set (the label-efficiency protocol
  of RAD-DINO [PAPER] Table 2 reports 1 %, 10 % and 100 % of the training labels);
* :func:`kfold_by_patient` deals it out round-robin into ``k`` folds.

With ``stratify_key`` the order interleaves the strata proportionally (each patient is placed at
``(rank within its stratum + u) / stratum size`` with ``u ~ U[0, 1)``), so every block, prefix or fold holds about
the same share of each stratum. A patient's stratum is the most frequent value of ``stratify_key`` over its items.

Items without a patient id (key missing, ``None``, ``""`` or NaN) are each treated as their own patient, with a
warning. Returned items are shallow copies in their original datalist order.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["DEFAULT_FRACTIONS", "patient_split", "label_fraction", "kfold_by_patient"]

DEFAULT_FRACTIONS: dict[str, float] = {"training": 0.7, "validation": 0.1, "test": 0.2}
"""Default split fractions (in patients); the keys are the decathlon datalist section names."""

_PatientKey = tuple[int, str]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value)
    )


def _group_by_patient(items: Sequence[Mapping[str, Any]], patient_key: str) -> dict[_PatientKey, list[int]]:
    """Map each patient to the indices of its items; an item without a patient id becomes its own patient."""
    groups: dict[_PatientKey, list[int]] = {}
    n_missing = 0
    for index, item in enumerate(items):
        value = item.get(patient_key)
        if _is_missing(value):
            n_missing += 1
            key: _PatientKey = (1, f"{index:012d}")
        else:
            key = (0, str(value).strip())
        groups.setdefault(key, []).append(index)
    if n_missing:
        warnings.warn(
            f"{n_missing} of {len(items)} datalist items have no {patient_key!r}; each is treated as its own "
            "patient, so images of one person may end up in different splits.",
            stacklevel=3,
        )
    return groups


def _stratum(items: Sequence[Mapping[str, Any]], indices: list[int], stratify_key: str) -> str:
    """Most frequent ``stratify_key`` value over a patient's items (ties: smallest string)."""
    counts = Counter(repr(items[i].get(stratify_key)) for i in indices)
    best = max(counts.values())
    return min(value for value, count in counts.items() if count == best)


def _patient_order(
    items: Sequence[Mapping[str, Any]], seed: int, patient_key: str, stratify_key: str | None
) -> list[list[int]]:
    """Patients (as lists of item indices) in the seeded, optionally stratified order described in the module."""
    groups = _group_by_patient(items, patient_key)
    keys = sorted(groups)
    rng = np.random.default_rng(seed)
    if stratify_key is None:
        return [groups[keys[i]] for i in rng.permutation(len(keys))]
    strata: dict[str, list[_PatientKey]] = {}
    for key in keys:
        strata.setdefault(_stratum(items, groups[key], stratify_key), []).append(key)
    positions: list[tuple[float, _PatientKey]] = []
    for name in sorted(strata):
        members = strata[name]
        offsets = rng.random(len(members))
        for rank, member_index in enumerate(rng.permutation(len(members))):
            positions.append(((rank + offsets[rank]) / len(members), members[member_index]))
    positions.sort()
    return [groups[key] for _, key in positions]


def _copies(items: Sequence[Mapping[str, Any]], indices: list[int]) -> list[dict[str, Any]]:
    return [dict(items[i]) for i in sorted(indices)]


def _block_sizes(n: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Largest-remainder rounding of ``n * fraction``; every positive fraction gets >= 1 patient when n allows."""
    exact = {name: n * f for name, f in fractions.items()}
    sizes = {name: int(math.floor(value)) for name, value in exact.items()}
    by_remainder = sorted(fractions, key=lambda name: (-(exact[name] - sizes[name]), list(fractions).index(name)))
    for name in by_remainder[: n - sum(sizes.values())]:
        sizes[name] += 1
    for name in fractions:
        if fractions[name] > 0 and sizes[name] == 0:
            donor = max(sizes, key=lambda other: sizes[other])
            if sizes[donor] > 1:
                sizes[donor] -= 1
                sizes[name] += 1
    return sizes


def patient_split(
    items: Sequence[Mapping[str, Any]],
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    patient_key: str = "patient_id",
    stratify_key: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Split datalist items by patient into named parts (default 70 / 10 / 20 % training / validation / test).

    Args:
        items: datalist items (dicts); only ``patient_key`` and ``stratify_key`` are read.
        fractions: part name -> fraction of the *patients*; values in [0, 1] summing to 1. Sizes are rounded by the
            largest-remainder method and every part with a positive fraction gets at least one patient when there
            are enough patients. Default :data:`DEFAULT_FRACTIONS`.
        seed: seed of the patient order; the same seed and items always give the same split.
        patient_key: item key holding the patient id (compared as stripped strings).
        stratify_key: optional item key (e.g. ``"label"``) whose distribution each part should roughly keep.

    Returns:
        dict part name -> list of item copies, in datalist order, in the order of ``fractions``.

    Raises:
        ValueError: if ``fractions`` is empty, has a value outside [0, 1], or does not sum to 1.

    Example:
        >>> items = [{"image": f"{i}.png", "patient_id": i // 2} for i in range(20)]
        >>> parts = patient_split(items, seed=0)
        >>> [len(parts[k]) for k in ("training", "validation", "test")]
        [14, 2, 4]
    """
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    if not fractions:
        raise ValueError("patient_split: fractions must name at least one part, e.g. {'training': 0.8, 'test': 0.2}.")
    bad = {name: f for name, f in fractions.items() if not 0.0 <= float(f) <= 1.0}
    if bad:
        raise ValueError(f"patient_split: every fraction must be in [0, 1], got {bad}.")
    if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
        raise ValueError(f"patient_split: fractions must sum to 1, got {fractions} (sum {sum(fractions.values())}).")
    order = _patient_order(items, seed, patient_key, stratify_key)
    sizes = _block_sizes(len(order), fractions)
    parts: dict[str, list[dict[str, Any]]] = {}
    start = 0
    for name in fractions:
        block = order[start : start + sizes[name]]
        start += sizes[name]
        parts[name] = _copies(items, [i for patient in block for i in patient])
    return parts


def label_fraction(
    items: Sequence[Mapping[str, Any]],
    fraction: float,
    seed: int = 0,
    patient_key: str = "patient_id",
    stratify_key: str | None = None,
) -> list[dict[str, Any]]:
    """Keep whole patients until at least ``fraction`` of the images are kept (nested across fractions).

    The subsets are prefixes of one seeded patient order, so for a fixed seed ``label_fraction(x, 0.01)`` is a
    subset of ``label_fraction(x, 0.1)``, itself a subset of ``label_fraction(x, 1.0) == x``. At least one patient
    is always kept.

    Args:
        items: (training) datalist items.
        fraction: share of the images to keep, in (0, 1]; RAD-DINO [PAPER] uses 0.01, 0.1 and 1.0.
        seed: seed of the patient order.
        patient_key: item key holding the patient id.
        stratify_key: optional item key whose distribution the subset should roughly keep.

    Returns:
        list of item copies in datalist order.

    Raises:
        ValueError: if ``fraction`` is not in (0, 1].

    Example:
        >>> items = [{"image": f"{i}.png", "patient_id": i} for i in range(200)]
        >>> len(label_fraction(items, 0.1, seed=0))
        20
    """
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"label_fraction: fraction must be in (0, 1], e.g. 0.01, 0.1 or 1.0; got {fraction}.")
    order = _patient_order(items, seed, patient_key, stratify_key)
    target = fraction * len(items)
    kept: list[int] = []
    for patient in order:
        if kept and len(kept) >= target - 1e-9:
            break
        kept.extend(patient)
    return _copies(items, kept)


def kfold_by_patient(
    items: Sequence[Mapping[str, Any]],
    k: int = 5,
    seed: int = 0,
    patient_key: str = "patient_id",
    stratify_key: str | None = None,
) -> list[dict[str, list[dict[str, Any]]]]:
    """K-fold cross-validation folds by patient.

    Patients are dealt round-robin from the seeded order, so fold sizes differ by at most one patient and every
    patient is in exactly one validation part.

    Args:
        items: datalist items.
        k: number of folds, >= 2 and <= the number of patients.
        seed: seed of the patient order.
        patient_key: item key holding the patient id.
        stratify_key: optional item key whose distribution each fold should roughly keep.

    Returns:
        list of ``k`` dicts ``{"training": [...], "validation": [...]}`` of item copies in datalist order.

    Raises:
        ValueError: if ``k < 2`` or there are fewer patients than folds.

    Example:
        >>> items = [{"image": f"{i}.png", "patient_id": i} for i in range(10)]
        >>> [len(f["validation"]) for f in kfold_by_patient(items, k=5)]
        [2, 2, 2, 2, 2]
    """
    if int(k) < 2:
        raise ValueError(f"kfold_by_patient: k must be >= 2, got {k}.")
    order = _patient_order(items, seed, patient_key, stratify_key)
    if len(order) < k:
        raise ValueError(f"kfold_by_patient: {len(order)} patients cannot fill k={k} folds; use k <= {len(order)}.")
    folds = []
    for fold in range(k):
        val = [i for p, patient in enumerate(order) if p % k == fold for i in patient]
        train = [i for p, patient in enumerate(order) if p % k != fold for i in patient]
        folds.append({"training": _copies(items, train), "validation": _copies(items, val)})
    return folds


"""Tests of raddino_monai.data.splits: patient-level splits, nested label fractions and k-fold."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from raddino_monai.data.splits import kfold_by_patient, label_fraction, patient_split


def _items(n_patients: int = 100, seed: int = 1) -> list[dict[str, Any]]:
    """1 to 4 images per patient; label 1 for every 4th patient (imbalanced)."""
    rng = random.Random(seed)
    items = []
    for p in range(n_patients):
        for k in range(rng.randint(1, 4)):
            items.append({"image": f"p{p}_{k}.png", "patient_id": f"P{p:03d}", "label": int(p % 4 == 0)})
    return items


def _patients(items: list[dict[str, Any]]) -> set[str]:
    return {item["patient_id"] for item in items}


def _images(items: list[dict[str, Any]]) -> list[str]:
    return [item["image"] for item in items]


def test_patient_split_partitions_by_patient() -> None:
    items = _items()
    parts = patient_split(items, seed=0)
    assert list(parts) == ["training", "validation", "test"]
    assert [len(_patients(parts[k])) for k in parts] == [70, 10, 20]
    assert sorted(_images([i for part in parts.values() for i in part])) == sorted(_images(items))
    names = list(parts)
    for a in range(3):
        for b in range(a + 1, 3):
            assert not _patients(parts[names[a]]) & _patients(parts[names[b]])
    order = {image: index for index, image in enumerate(_images(items))}
    for part in parts.values():  # items keep datalist order and are copies
        assert [order[i] for i in _images(part)] == sorted(order[i] for i in _images(part))
    parts["training"][0]["label"] = "changed"
    assert "changed" not in [item["label"] for item in items]


def test_patient_split_is_deterministic_and_order_independent() -> None:
    items = _items()
    first = patient_split(items, seed=3)
    shuffled = list(items)
    random.Random(0).shuffle(shuffled)
    again = patient_split(shuffled, seed=3)
    assert {k: sorted(_images(v)) for k, v in first.items()} == {k: sorted(_images(v)) for k, v in again.items()}
    other = patient_split(items, seed=4)
    assert _patients(other["test"]) != _patients(first["test"])


def test_patient_split_custom_fractions_and_rounding() -> None:
    items = _items(n_patients=7)
    parts = patient_split(items, fractions={"training": 0.9, "test": 0.1}, seed=0)
    assert [len(_patients(parts[k])) for k in ("training", "test")] == [6, 1]  # every positive part gets a patient
    parts = patient_split(items, fractions={"a": 0.5, "b": 0.5, "c": 0.0}, seed=0)
    assert [len(_patients(parts[k])) for k in "abc"] == [4, 3, 0]


@pytest.mark.parametrize(
    "fractions, message",
    [({}, "at least one part"), ({"training": 1.2, "test": -0.2}, r"in \[0, 1\]"), ({"a": 0.5}, "sum to 1")],
)
def test_patient_split_rejects_bad_fractions(fractions: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        patient_split(_items(10), fractions=fractions)


def test_patient_split_stratified_keeps_label_shares() -> None:
    items = _items(n_patients=200)
    parts = patient_split(items, seed=0, stratify_key="label")
    patients_per_label = {k: Counter(next(i["label"] for i in v if i["patient_id"] == p) for p in _patients(v))
                          for k, v in parts.items()}  # fmt: skip
    # 50 of 200 patients have label 1: 35 / 5 / 10 of them in the 70 / 10 / 20 % parts, give or take one
    assert abs(patients_per_label["training"][1] - 35) <= 1
    assert abs(patients_per_label["validation"][1] - 5) <= 1
    assert abs(patients_per_label["test"][1] - 10) <= 1


def test_items_without_patient_id_are_their_own_patients() -> None:
    items = [{"image": f"{i}.png", "patient_id": pid} for i, pid in enumerate(["a", "a", None, "", float("nan")])]
    items.append({"image": "no_key.png"})
    with pytest.warns(UserWarning, match="4 of 6 datalist items have no 'patient_id'"):
        parts = patient_split(items, fractions={"x": 0.6, "y": 0.4}, seed=0)
    assert sum(len(v) for v in parts.values()) == 6
    assert any({"0.png", "1.png"} <= set(_images(v)) for v in parts.values())


def test_numeric_and_string_patient_ids_match() -> None:
    items = [{"image": "a.png", "patient_id": 12}, {"image": "b.png", "patient_id": "12"}, {"image": "c.png",
             "patient_id": 13}]  # fmt: skip
    parts = patient_split(items, fractions={"x": 0.5, "y": 0.5}, seed=0)
    assert sorted(len(v) for v in parts.values()) == [1, 2]


def test_label_fraction_sizes_and_nesting() -> None:
    items = _items(n_patients=300)
    for seed in (0, 1):
        subsets = {f: set(_images(label_fraction(items, f, seed=seed))) for f in (0.01, 0.1, 0.5, 1.0)}
        assert subsets[0.01] <= subsets[0.1] <= subsets[0.5] <= subsets[1.0] == set(_images(items))
        for fraction, kept in subsets.items():
            assert fraction * len(items) <= len(kept) < fraction * len(items) + 4  # whole patients of <= 4 images
    assert _images(label_fraction(items, 0.1, seed=0)) == _images(label_fraction(items, 0.1, seed=0))
    assert _images(label_fraction(items, 0.1, seed=0)) != _images(label_fraction(items, 0.1, seed=1))


def test_label_fraction_keeps_whole_patients_and_at_least_one() -> None:
    items = _items(n_patients=20)
    kept = label_fraction(items, 0.001, seed=0)
    assert len(_patients(kept)) == 1
    kept = label_fraction(items, 0.3, seed=0)
    per_patient = Counter(i["patient_id"] for i in items)
    assert all(Counter(i["patient_id"] for i in kept)[p] == per_patient[p] for p in _patients(kept))


def test_label_fraction_stratified_nesting() -> None:
    items = _items(n_patients=400)
    small = label_fraction(items, 0.1, seed=2, stratify_key="label")
    large = label_fraction(items, 0.5, seed=2, stratify_key="label")
    assert set(_images(small)) <= set(_images(large))
    share = sum(i["label"] for i in small) / len(small)
    assert 0.15 < share < 0.35  # 25 % of patients have label 1


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_label_fraction_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        label_fraction(_items(5), fraction)


@pytest.mark.parametrize("stratify_key", [None, "label"])
def test_kfold_by_patient(stratify_key: str | None) -> None:
    items = _items(n_patients=23)
    folds = kfold_by_patient(items, k=5, seed=0, stratify_key=stratify_key)
    assert len(folds) == 5
    seen: list[str] = []
    for fold in folds:
        assert not _patients(fold["training"]) & _patients(fold["validation"])
        assert sorted(_images(fold["training"] + fold["validation"])) == sorted(_images(items))
        seen.extend(_patients(fold["validation"]))
    assert sorted(seen) == sorted(_patients(items))  # each patient validated exactly once
    assert sorted(len(_patients(f["validation"])) for f in folds) == [4, 4, 5, 5, 5]
    assert [_images(f["validation"]) for f in folds] == [
        _images(f["validation"]) for f in kfold_by_patient(items, k=5, seed=0, stratify_key=stratify_key)
    ]


def test_kfold_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be >= 2"):
        kfold_by_patient(_items(5), k=1)
    with pytest.raises(ValueError, match="5 patients cannot fill k=6 folds"):
        kfold_by_patient(_items(5), k=6)

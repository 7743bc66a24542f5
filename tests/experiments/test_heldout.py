"""Held-out patient split: patient-disjoint, fallback to image ids with a logged warning, clear errors."""

from __future__ import annotations

import logging

import pytest

from raddino_monai.experiments.heldout import GROUP_KEY, check_patient_disjoint, heldout_split, with_patient_groups


def _items(n: int = 40, per_patient: int = 3) -> list[dict]:
    return [{"image": f"img{i}.png", "case": f"p{i // per_patient}", "label": "ab"[i % 2]} for i in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_split_is_patient_disjoint_and_complete(seed: int, fraction: float) -> None:
    items = _items()
    pretrain, held_out = heldout_split(items, fraction, seed=seed, patient_key="case")
    assert {it["case"] for it in pretrain}.isdisjoint({it["case"] for it in held_out})
    assert sorted(it["image"] for it in pretrain + held_out) == sorted(it["image"] for it in items)
    n_patients = len({it["case"] for it in items})
    assert len({it["case"] for it in held_out}) == round(fraction * n_patients)
    assert all(it[GROUP_KEY] == it["case"] for it in pretrain + held_out)  # evaluations group by patient_id
    check_patient_disjoint(pretrain, held_out)


def test_split_is_reproducible_and_follows_the_seed() -> None:
    items = _items()
    def held_out(its: list[dict], seed: int) -> set[str]:
        return {it["image"] for it in heldout_split(its, 0.5, seed=seed, patient_key="case")[1]}

    assert held_out(items, 3) == held_out(list(reversed(items)), 3)  # depends on the patients, not the item order
    assert held_out(items, 3) != held_out(items, 4)


def test_missing_patient_falls_back_to_image_id_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    items = [{"image": "a.png", "patient_id": "7"}, {"image": "b.png"}, {"image": "c.png", "id": "c", "patient_id": ""}]
    with caplog.at_level(logging.WARNING, logger="raddino_monai.experiments.heldout"):
        grouped = with_patient_groups(items)
    assert [it[GROUP_KEY] for it in grouped] == ["7", "b.png", "c"]
    assert "2 of 3 items have no 'patient_id'" in caplog.text
    assert "patient_id" not in items[1]  # inputs are not modified


def test_overlap_and_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap: 1 patient"):
        check_patient_disjoint([{"image": "a.png", GROUP_KEY: "1"}], [{"image": "b.png", GROUP_KEY: "1"}])
    with pytest.raises(ValueError, match=r"eval_fraction must be in \(0, 1\)"):
        heldout_split(_items(), 1.0)
    with pytest.raises(ValueError, match="needs >= 2 patients"):
        heldout_split([{"image": "a.png", "patient_id": "1"}, {"image": "b.png", "patient_id": "1"}], 0.5)

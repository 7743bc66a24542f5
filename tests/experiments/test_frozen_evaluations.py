"""Frozen evaluations of the comparison: cross-modal retrieval for methods with text embedders, skip reasons."""

from __future__ import annotations

import numpy as np
import pytest

from raddino_monai.data.datalist import load_datalist
from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.experiments.frozen_evaluations import FrozenEvalConfig, evaluate_frozen
from raddino_monai.experiments.heldout import with_patient_groups
from raddino_monai.experiments.pretraining_methods import PretrainedEncoder


def _items() -> list[dict]:
    items = with_patient_groups(load_datalist(sample_datalist_path())[:40])
    return [{**it, "report": f"findings consistent with: {it['label']}"} for it in items]


def test_text_retrieval_runs_when_the_method_gives_text_embedders() -> None:
    items = _items()
    classes = sorted({it["label"] for it in items})

    def one_hot(label: str) -> np.ndarray:
        return np.eye(len(classes))[classes.index(label)]

    embedders = {  # a perfect joint space: the label's one-hot vector, for images and for their reports
        "image": lambda batch: np.stack([one_hot(b["label"]) for b in batch]),
        "text": lambda batch: np.stack([one_hot(b["text"].split(": ", 1)[1]) for b in batch]),
    }
    config = FrozenEvalConfig(evaluations=("retrieval",), eval_image_size=28)
    records, skipped = evaluate_frozen(PretrainedEncoder("tiny_vit_p14", embedders=embedders), items, config)
    by_setting = {(r["setting"], r["metric"]): r["value"] for r in records}

    def oracle(k: int) -> float:  # a perfect ranking: min(k, same-class candidates of other patients) / k per query
        return float(np.mean([min(k, sum(c["label"] == q["label"] and c["patient_id"] != q["patient_id"]
                                         for c in items)) / k for q in items]))

    assert by_setting[("text_to_image", "precision@5")] == pytest.approx(oracle(5))
    assert by_setting[("image_to_text", "precision@10")] == pytest.approx(oracle(10))
    assert oracle(5) > 0.9
    assert 0 <= by_setting[("image_to_image", "precision@5")] <= 1 and not skipped


def test_evaluations_without_their_inputs_are_skipped_with_a_reason() -> None:
    items = [{k: v for k, v in it.items() if k not in ("mask", "label", "sex")} for it in _items()]
    config = FrozenEvalConfig(evaluations=("linear_probe", "segmentation", "retrieval", "metadata_probe"),
                              eval_image_size=28, metadata_attributes=("sex",))
    records, skipped = evaluate_frozen(PretrainedEncoder("tiny_vit_p14"), items, config)
    assert records == []
    assert "with 'label'" in skipped["linear_probe"] and "'mask'" in skipped["segmentation"]
    assert "'label'" in skipped["retrieval"] and "no held-out item has 'sex'" in skipped["metadata_probe/sex"]

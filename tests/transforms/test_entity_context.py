from __future__ import annotations

import numpy as np
import pytest

from raddino_monai.transforms.entity_context import (
    ECAMP_ENTITIES,
    InsertEntityContext,
    InsertEntityContextd,
    keyword_entity_sentence,
    split_sentences,
)

REPORT = "Heart size is normal. Small left effusion. No pneumothorax."


def test_entity_list_is_ecamps() -> None:
    # [ECAMP] pretrain_datasets.py lines 17-22: 44 terms, first "abnormality", last "vasculature"
    assert len(ECAMP_ENTITIES) == 44 == len(set(ECAMP_ENTITIES))
    assert ECAMP_ENTITIES[0] == "abnormality" and ECAMP_ENTITIES[-1] == "vasculature" and "COPD" in ECAMP_ENTITIES


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ("Small left pleural effusions. No pneumothorax; possible pneumonia.",
         "effusion, no pneumothorax, possible pneumonia."),
        ("There is no evidence of consolidation or edema.", "no consolidation, no edema."),
        ("No effusion but a small pneumothorax is seen.", "no effusion, pneumothorax."),
        ("Bibasilar opacities may reflect atelectasis. COPD.", "opacity, possible atelectasis, copd."),
        ("Hyperinflated lungs. Calcified granulomas.", "hyperinflate, calcification, granuloma."),
        ("No focal consolidation to suggest pneumonia. Cannot exclude edema.",
         "no consolidation, no pneumonia, possible edema."),
        ("The lungs are clear.", ""),
    ],
)
def test_keyword_entity_sentence(report: str, expected: str) -> None:
    assert keyword_entity_sentence(report) == expected


def test_split_sentences() -> None:
    assert split_sentences(REPORT) == ["Heart size is normal.", "Small left effusion.", "No pneumothorax."]
    assert split_sentences("  ...  ") == []


def test_insert_at_every_boundary_uniformly() -> None:
    t = InsertEntityContext(prob=1.0, entity_fn=lambda r: "CTX", seed=0)
    positions = []
    for _ in range(800):
        parts = split_sentences(t(REPORT))
        positions.append(parts.index("CTX."))
    counts = np.bincount(positions, minlength=4)
    assert len(counts) == 4 and counts.min() > 150  # positions 0..3 (= S), each ~200 of 800


def test_insert_probability() -> None:
    t = InsertEntityContext(prob=0.8, entity_fn=lambda r: "CTX.", seed=1)
    inserted = np.mean(["CTX." in t(REPORT) for _ in range(2000)])
    assert inserted == pytest.approx(0.8, abs=0.03)  # [ECAMP] add_prob < 0.8
    assert InsertEntityContext(prob=0.0, seed=0)(REPORT) == REPORT


def test_default_context_and_precomputed_context() -> None:
    t = InsertEntityContext(prob=1.0, seed=0)
    out = t(REPORT)
    assert "effusion, no pneumothorax." in out and len(split_sentences(out)) == 4
    assert "LLM says effusion." in t(REPORT, entity_context="LLM says effusion")
    assert InsertEntityContext(prob=1.0, entity_fn=lambda r: "  ", seed=0)(REPORT) == REPORT  # nothing to insert


def test_dictionary_version() -> None:
    d = InsertEntityContextd("report", prob=1.0, seed=0)
    pre = d({"report": REPORT, "entity_context": "Precomputed context."})
    assert "Precomputed context." in pre["report"] and pre["entity_context"] == "Precomputed context."
    derived = InsertEntityContextd("report", prob=1.0, output_key="text", seed=0)({"report": REPORT})
    assert derived["report"] == REPORT and "no pneumothorax." in derived["text"]
    a = InsertEntityContextd("report", prob=0.5, seed=7)
    b = InsertEntityContextd("report", prob=0.5, seed=7)
    assert [a({"report": REPORT})["report"] for _ in range(20)] == [b({"report": REPORT})["report"] for _ in range(20)]


def test_errors() -> None:
    with pytest.raises(ValueError, match="prob"):
        InsertEntityContext(prob=1.5)
    with pytest.raises(TypeError, match="string"):
        InsertEntityContext()(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        InsertEntityContextd(["a", "b"])

"""Entity-aware MLM masking and loss weights, checked by hand against ECAMP's ``pretrain_datasets.py`` rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference.tiny_text import tiny_tokenizer

from raddino_monai.transforms.entity_mlm import (
    MLM_KEYS,
    EntityAwareMLM,
    EntityAwareMLMd,
    EntityMLMConfig,
    entity_aware_mask,
    template_positions,
    template_weights,
)

MASK, PAD = 3, 0
# positions: 0 [CLS], 1 small, 2 left, 3 pleural, 4 effusion, 5 ##s, 6 ., 7 there, 8 is, 9 no, 10 evidence, 11 of,
# 12 pneumothorax, 13 ., 14-19 [PAD]
REPORT = "Small left pleural effusions. There is no evidence of pneumothorax."
T = 20


def _draws() -> tuple[np.ndarray, np.ndarray]:
    u_token = np.full(T, 0.9)
    u_token[[1, 2, 7, 10]] = 0.5  # background draw below 0.7 at 1, 2, 7, 10
    u_entity = np.full(T, 0.9)
    u_entity[4] = 0.2  # effusion masked (< 0.75), pneumothorax (0.9) kept
    return u_token, u_entity


def _transform(**config) -> EntityAwareMLM:
    return EntityAwareMLM(tiny_tokenizer(), EntityMLMConfig(**{"max_length": T, **config}), seed=0)


def _masked_positions(t: EntityAwareMLM, report: str, u_token: np.ndarray, u_entity: np.ndarray) -> dict:
    t.u_token, t.u_entity = u_token, u_entity
    out = t(report, randomize=False)
    return {"out": out, "masked": sorted(torch.nonzero(out["input_ids"] == MASK).flatten().tolist())}


def test_released_code_masking_by_hand() -> None:
    # mask_descriptors=False = ECAMP's released code: descriptors (3, 2 of effusion; 11, 10 of pneumothorax) are only
    # masked by their own background draw (2 and 10 here); "##s" follows "effusion", which is unmasked when position 5
    # is scanned (entities are masked at the end), so it stays visible.
    res = _masked_positions(_transform(mask_descriptors=False), REPORT, *_draws())
    assert res["masked"] == [1, 2, 4, 7, 10]


def test_descriptor_masking_by_hand() -> None:
    # mask_descriptors=True (paper): every non-entity descriptor is masked as well: 3 (pleural) and 11 (of)
    res = _masked_positions(_transform(), REPORT, *_draws())
    assert res["masked"] == [1, 2, 3, 4, 7, 10, 11]
    ids = tiny_tokenizer().encode(REPORT, add_special_tokens=False)
    assert res["out"]["labels"].tolist() == [2] + ids + [PAD] * (T - 1 - len(ids))  # labels="all": original ids


def test_template_weights_renormalised_onto_descriptors_by_hand() -> None:
    w = _masked_positions(_transform(), REPORT, *_draws())["out"]["mlm_weights"].numpy()
    # template "there is no evidence of" = positions 7-11 (longest match) -> 0.05; descriptors 3, 2, 11, 10 carry
    # 1 + 1 + 0.05 + 0.05 = 2.1; the lost 5 * 0.95 = 4.75 goes to them: factor (2.1 + 4.75) / 2.1. ECAMP's formula
    # (0.95 * (5 - 2) + 4) / (4 - 0.95 * 2) is the same number.
    factor = (2.1 + 4.75) / 2.1
    assert factor == pytest.approx((0.95 * (5 - 2) + 4) / (4 - 0.95 * 2))
    expected = np.ones(T)
    expected[[7, 8, 9]] = 0.05
    expected[[10, 11]] = 0.05 * factor
    expected[[2, 3]] = factor
    np.testing.assert_allclose(w, expected, rtol=1e-6)
    assert w.sum() == pytest.approx(T)


def test_template_without_descriptors_rescales_every_token() -> None:
    # no entity: "there is no" (positions 1-3) -> 0.05, then everything * T / (T - 0.95 * 3)
    w = template_weights(10, template_positions([2, 7, 8, 9, 41, 5, 0, 0, 0, 0], [[7, 8, 9, 10, 11], [7, 8, 9]]), [])
    scale = 10 / (10 - 0.95 * 3)
    np.testing.assert_allclose(w, [scale, 0.05 * scale, 0.05 * scale, 0.05 * scale] + [scale] * 6, rtol=1e-6)
    assert w.sum() == pytest.approx(10)
    assert template_weights(6, [], [2]).tolist() == [1.0] * 6  # no template: ones, even with descriptors


def test_longest_template_first() -> None:
    long, short = [7, 8, 9, 10, 11], [7, 8, 9]
    assert template_positions([2, 7, 8, 9, 10, 11, 5], [long, short]) == [1, 2, 3, 4, 5]
    assert template_positions([2, 7, 8, 9, 26, 7, 8, 9], [long, short]) == [1, 2, 3, 5, 6, 7]


def test_report_without_entities_is_masked_at_075_with_whole_words() -> None:
    # 0 [CLS], 1 hyper, 2 ##inflated, 3 lungs, 4 are, 5 clear, 6 .
    u = np.full(T, 0.99)
    u[[1, 3, 4, 5, 6]] = [0.5, 0.8, 0.74, 0.76, 0.1]
    res = _masked_positions(_transform(), "Hyperinflated lungs are clear.", u, np.zeros(T))
    assert res["masked"] == [1, 2, 4, 6]  # ##inflated follows hyper; 0.74 < 0.75 masks in a report without entities
    assert res["out"]["mlm_weights"].tolist() == [1.0] * T
    assert res["out"]["attention_mask"].tolist() == [1] * 7 + [0] * (T - 7)


def test_entity_aware_mask_never_touches_cls_pad_or_last_position() -> None:
    tokens = ["[CLS]", "effusion", "effusion", "effusion"]
    out, desc = entity_aware_mask([2, 16, 16, 16], tokens, [0.0] * 4, [0.0] * 4, mask_id=MASK, pad_id=PAD,
                                  config=EntityMLMConfig())
    assert out == [2, MASK, MASK, 16] and desc == [1]  # position 0 is never a descriptor; T - 1 is not scanned
    out, _ = entity_aware_mask([2, 16, PAD, 16, 5], ["[CLS]", "effusion", "[PAD]", "effusion", "."], [0.0] * 5,
                               [0.0] * 5, mask_id=MASK, pad_id=PAD, config=EntityMLMConfig())
    assert out == [2, MASK, PAD, 16, 5]  # the scan stops at the first padding token


def test_masked_labels_option() -> None:
    res = _masked_positions(_transform(labels="masked"), REPORT, *_draws())
    labels = res["out"]["labels"]
    assert torch.nonzero(labels != -100).flatten().tolist() == res["masked"]


def test_masking_rates_over_many_draws() -> None:
    t = _transform(max_length=64)
    report = "The heart size is normal and the lungs are clear with a stable normal heart size. " * 2
    rates = np.mean([(t(report)["input_ids"] == MASK).float()[1:30].mean().item() for _ in range(300)])
    assert rates == pytest.approx(0.75, abs=0.03)  # every token of an entity-free report: p = 0.75


def test_seeded_and_dictionary_versions_agree() -> None:
    tok = tiny_tokenizer()
    cfg = EntityMLMConfig(max_length=T)
    a = EntityAwareMLM(tok, cfg, seed=3)(REPORT)
    d = EntityAwareMLMd("report", tok, cfg, seed=3)({"report": REPORT, "image": "x.png"})
    assert set(MLM_KEYS) <= set(d) and d["image"] == "x.png"
    for key in MLM_KEYS:
        assert torch.equal(a[key], d[key])
    assert a["input_ids"].dtype == torch.long and a["mlm_weights"].dtype == torch.float32


def test_errors() -> None:
    with pytest.raises(ValueError, match="labels must be one of"):
        EntityMLMConfig(labels="some")
    with pytest.raises(TypeError, match="string"):
        _transform()(None)  # type: ignore[arg-type]
    tok = tiny_tokenizer()
    tok.mask_token = None
    with pytest.raises(ValueError, match="mask_token_id"):
        EntityAwareMLM(tok)
    with pytest.raises(ValueError, match="exactly one"):
        EntityAwareMLMd(["a", "b"], tiny_tokenizer())

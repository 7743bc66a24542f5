"""ReportGenerator: splicing (vs a per-row reference), loss (vs transformers' own), and decoding invariants for the
GPT-2, LLaMA, Qwen2 and Phi families."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from raddino_monai.report import IGNORE_INDEX, ReportCollate, ReportGenerationConfig, splice_image_tokens

from .helpers import FAMILIES, REPORTS, build_model

PROMPTS = ["<image> Provide a description of the findings in the radiology image.", "<image> Findings?",
           "Describe <image> briefly, please, in one or two sentences."]


def _reference_splice(text, image, positions, mask, labels):
    """[LLaVA] prepare_inputs_labels_for_multimodal for one image per row, as a NumPy loop (no padding removal needed:
    every row grows by the same N - 1)."""
    out_e, out_m, out_l = [], [], []
    for b, p in enumerate(positions):
        n = image.shape[1]
        out_e.append(np.concatenate([text[b, :p], image[b], text[b, p + 1:]]))
        out_m.append(np.concatenate([mask[b, :p], np.ones(n, dtype=mask.dtype), mask[b, p + 1:]]))
        out_l.append(np.concatenate([labels[b, :p], np.full(n, IGNORE_INDEX), labels[b, p + 1:]]))
    return np.stack(out_e), np.stack(out_m), np.stack(out_l)


def test_splice_matches_reference() -> None:
    rng = np.random.default_rng(0)
    text, image = rng.standard_normal((3, 7, 5)), rng.standard_normal((3, 4, 5))
    positions = np.array([0, 3, 6])
    mask = (rng.random((3, 7)) > 0.3).astype(np.int64)
    labels = rng.integers(0, 50, (3, 7))
    got = splice_image_tokens(torch.from_numpy(text), torch.from_numpy(image), torch.from_numpy(positions),
                              torch.from_numpy(mask), torch.from_numpy(labels))
    for g, e in zip(got, _reference_splice(text, image, positions, mask, labels)):
        np.testing.assert_array_equal(g.numpy(), e)


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes_and_splicing_in_the_model(lm_folders, features, family) -> None:
    model = build_model(lm_folders(family))
    batch = ReportCollate(model.tokenizer, model.config)(
        [{"id": str(i), "features": features(1, 4, 16, seed=i)[0].numpy(), "report": REPORTS[i]} for i in range(3)])
    embeds, mask, labels = model.embed(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"])
    b, t = batch["input_ids"].shape
    assert embeds.shape == (b, t + 3, model.hidden_size) and mask.shape == labels.shape == (b, t + 3)
    pos = model.prompt_ids.index(model.image_token_id)
    projected = model.projector(batch["features"])
    torch.testing.assert_close(embeds[:, pos:pos + 4], projected)  # the image tokens sit where the placeholder was
    assert (labels[:, : len(model.prompt_ids) + 3] == IGNORE_INDEX).all()
    assert model.forward(batch["features"], batch["input_ids"], batch["attention_mask"]).shape[:2] == (b, t + 3)


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_equals_transformers_mean_loss(lm_folders, features, family) -> None:
    model = build_model(lm_folders(family)).eval()
    batch = ReportCollate(model.tokenizer, model.config)(
        [{"id": str(i), "features": features(1, 4, 16, seed=i)[0].numpy(), "report": REPORTS[i]} for i in range(3)])
    embeds, mask, labels = model.embed(batch["input_ids"], batch["attention_mask"], batch["features"], batch["labels"])
    reference = model.lm(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss  # HF's shifted mean CE
    ours = model.loss(batch["features"], batch["input_ids"], batch["attention_mask"], batch["labels"])
    n_targets = int((batch["labels"] != IGNORE_INDEX).sum())
    torch.testing.assert_close(ours / n_targets, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_image_tokens_change_the_text(lm_folders, features, family) -> None:
    model = build_model(lm_folders(family))
    config = ReportGenerationConfig(max_new_tokens=12)
    a = model.generate_ids(features(3, 4, 16, seed=0), config)  # ids: random byte-level tokens may decode alike
    b = model.generate_ids(features(3, 4, 16, seed=1), config)
    assert not torch.equal(a, b)
    assert len({tuple(row.tolist()) for row in a}) > 1  # different images in one batch get different reports


@pytest.mark.parametrize("family", FAMILIES)
def test_kv_cache_and_batching_do_not_change_greedy_output(lm_folders, features, family) -> None:
    model = build_model(lm_folders(family))
    feats = features(3, 4, 16, seed=2)
    cached = ReportGenerationConfig(max_new_tokens=16, use_cache=True)
    uncached = ReportGenerationConfig(max_new_tokens=16, use_cache=False)
    batched = model.generate_ids(feats, cached, prompts=PROMPTS)  # prompts of different lengths: left padding
    assert torch.equal(batched, model.generate_ids(feats, uncached, prompts=PROMPTS))
    for i in range(3):
        single = model.generate_ids(feats[i:i + 1], cached, prompts=PROMPTS[i:i + 1])
        assert model.decode(single) == model.decode(batched[i:i + 1])


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_beam_search_and_bf16(lm_folders, features, family) -> None:
    model = build_model(lm_folders(family))
    feats = features(2, 4, 16)
    ids = model.generate_ids(feats, ReportGenerationConfig(max_new_tokens=10, num_beams=3))
    assert ids.shape[0] == 2 and ids.shape[1] <= 10
    texts = model.generate(feats, ReportGenerationConfig(max_new_tokens=10, precision="bf16"))
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_text_only_model_and_errors(lm_folders, features) -> None:
    model = build_model(lm_folders("gpt2"), image_tokens=False)
    assert model.image_token_id not in model.prompt_ids
    texts = model.generate(None, ReportGenerationConfig(max_new_tokens=8), batch_size=2)
    assert len(texts) == 2 and texts[0] == texts[1]  # no image information: the same report for every image
    image_model = build_model(lm_folders("gpt2"))
    ids, mask = image_model.prompt_batch(2)
    with pytest.raises(ValueError, match=r"features must be \(B, N, 16\), found \(2, 4, 8\)"):
        image_model.embed(ids, mask, features(2, 4, 8))
    with pytest.raises(ValueError, match="hold the image token 1 time"):
        image_model.embed(ids[:, 1:], mask[:, 1:], features(2, 4, 16))
    with pytest.raises(RuntimeError, match="needs an encoder"):
        image_model.encode_images(torch.zeros(1, 3, 28, 28))


@pytest.mark.parametrize("family", ["gpt2", "qwen2"])
def test_min_new_tokens_fixes_the_length_on_both_paths(lm_folders, features, family) -> None:
    model = build_model(lm_folders(family))
    feats = features(2, 4, 16, seed=3)
    for cache in (True, False):
        config = ReportGenerationConfig(max_new_tokens=7, min_new_tokens=7, use_cache=cache)
        assert model.generate_ids(feats, config).shape == (2, 7)
    with pytest.raises(ValueError, match="greedy only"):
        ReportGenerationConfig(use_cache=False, num_beams=2)
    with pytest.raises(ValueError, match="min_new_tokens must lie in"):
        ReportGenerationConfig(max_new_tokens=4, min_new_tokens=5)

"""Model builders: configs wired to the tokenizer, both architectures, save / load round trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from text_tiny import TINY_BERT, TINY_LM
from transformers import AutoModel, AutoModelForCausalLM

from raddino_monai.text.models import CAUSAL_ARCHITECTURES, build_causal_lm, build_masked_lm, causal_lm_config
from raddino_monai.text.tokenizer import train_bpe_tokenizer, train_wordpiece_tokenizer


@pytest.mark.parametrize("architecture", CAUSAL_ARCHITECTURES)
def test_causal_lm(architecture: str, corpus: list[str], tmp_path: Path) -> None:
    tok = train_bpe_tokenizer(corpus, 300)
    model = build_causal_lm(dataclasses.replace(TINY_LM, architecture=architecture), tok)
    assert model.config.vocab_size == len(tok) and model.config.pad_token_id == tok.pad_token_id
    assert model.config.bos_token_id == tok.bos_token_id and model.config.eos_token_id == tok.eos_token_id
    ids = torch.tensor([[tok.bos_token_id, *tok("No effusion.")["input_ids"]]])
    out = model(input_ids=ids, labels=ids)
    assert out.logits.shape == (1, ids.shape[1], len(tok)) and torch.isfinite(out.loss)
    model.save_pretrained(tmp_path / architecture)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / architecture, local_files_only=True)
    model.eval()
    torch.testing.assert_close(loaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_bert_keeps_its_pooler(corpus: list[str], tmp_path: Path) -> None:
    tok = train_wordpiece_tokenizer(corpus, 200)
    model = build_masked_lm(TINY_BERT, tok)
    assert model.bert.pooler is not None and model.config.pad_token_id == tok.pad_token_id
    model.save_pretrained(tmp_path / "bert")
    encoder = AutoModel.from_pretrained(tmp_path / "bert", local_files_only=True).eval()
    batch = tok(["No effusion.", "Mild cardiomegaly."], padding=True, return_tensors="pt")
    model.eval()
    reference = model.bert(**batch)
    out = encoder(**batch)
    torch.testing.assert_close(out.last_hidden_state, reference.last_hidden_state)
    torch.testing.assert_close(out.pooler_output, reference.pooler_output)  # saved, so every load agrees


def test_config_errors(corpus: list[str]) -> None:
    tok = train_bpe_tokenizer(corpus, 300)
    with pytest.raises(ValueError, match="valid values"):
        causal_lm_config(dataclasses.replace(TINY_LM, architecture="mamba"), tok)
    with pytest.raises(ValueError, match="divisible"):
        causal_lm_config(dataclasses.replace(TINY_LM, num_heads=3), tok)

from __future__ import annotations

import json

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from raddino_monai.models.ecamp.report_decoder import build_report_decoder, ecamp_bert_config

TINY = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32}


def test_ecamp_bert_defaults() -> None:
    # [ECAMP] bert_config.py: 768 wide, 6 layers, 6 heads, intermediate 1536, 256 positions
    c = ecamp_bert_config(30000)
    assert (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads) == (30000, 768, 6, 6)
    assert (c.intermediate_size, c.max_position_embeddings, c.pad_token_id) == (1536, 256, 0)
    with pytest.raises(ValueError, match="Unknown BertConfig"):
        ecamp_bert_config(10, hidden_sise=4)


def test_logits_and_cross_attention_shapes() -> None:
    dec = build_report_decoder(24, vocab_size=40, **TINY).eval()
    out = dec(torch.randint(5, 40, (3, 10)), torch.ones(3, 10), torch.randn(3, 1 + 6, 24))
    assert out["logits"].shape == (3, 10, 40) and out["cross_attention"].shape == (3, 2, 10, 6)


def test_padding_does_not_change_real_tokens() -> None:
    dec = build_report_decoder(24, vocab_size=40, **TINY).eval()
    ids = torch.randint(5, 40, (1, 8))
    image = torch.randn(1, 5, 24)
    mask = torch.tensor([[1] * 5 + [0] * 3])
    other = ids.clone()
    other[0, 5:] = 0
    with torch.no_grad():
        a = dec(ids, mask, image)["logits"]
        b = dec(other, mask, image)["logits"]
    torch.testing.assert_close(a[:, :5], b[:, :5])


def test_image_conditions_the_text() -> None:
    dec = build_report_decoder(24, vocab_size=40, **TINY).eval()
    ids, mask = torch.randint(5, 40, (1, 8)), torch.ones(1, 8)
    with torch.no_grad():
        a = dec(ids, mask, torch.randn(1, 5, 24))["logits"]
        b = dec(ids, mask, torch.randn(1, 5, 24))["logits"]
    assert not torch.allclose(a, b)


def test_local_folder(tmp_path) -> None:
    mlm = BertForMaskedLM(BertConfig(vocab_size=40, max_position_embeddings=32, **TINY))
    mlm.save_pretrained(tmp_path / "bert")
    dec = build_report_decoder(24, text_model=tmp_path / "bert", vocab_size=40)
    torch.testing.assert_close(dec.mlm.bert.embeddings.word_embeddings.weight,
                               mlm.bert.embeddings.word_embeddings.weight)
    with pytest.raises(ValueError, match="tokenizer has 41"):
        build_report_decoder(24, text_model=tmp_path / "bert", vocab_size=41)
    with pytest.raises(ValueError, match="cannot change"):
        build_report_decoder(24, text_model=tmp_path / "bert", hidden_size=8)
    with pytest.raises(ValueError, match="max_position_embeddings=32"):
        dec(torch.zeros(1, 33, dtype=torch.long), torch.ones(1, 33), torch.randn(1, 3, 24))
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="needs a BERT"):
        build_report_decoder(24, text_model=tmp_path / "gpt")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        build_report_decoder(24, text_model=tmp_path / "missing")
    with pytest.raises(ValueError, match="vocab_size"):
        build_report_decoder(24)

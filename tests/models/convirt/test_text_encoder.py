"""TextEncoder: masked pooling against manual computations, frozen layers, local loading, tokenisation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from raddino_monai.models.convirt import TextEncoder, load_text_encoder, load_tokenizer, tokenize_texts

SENTENCES = ["the heart is mildly enlarged .", "no pneumothorax .", "small left pleural effusion ."]


def _batch(folder: Path) -> dict[str, torch.Tensor]:
    return tokenize_texts(load_tokenizer(folder), SENTENCES)


def test_tokenize_pads_to_longest(tiny_bert_dir: Path) -> None:
    batch = _batch(tiny_bert_dir)
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (3, 8)  # [CLS] 6 tokens [SEP]
    assert batch["attention_mask"].sum(dim=1).tolist() == [8, 5, 7]
    assert not (batch["input_ids"] == 1).any()  # no [UNK]: the test vocabulary covers the sentences


@pytest.mark.parametrize("pooling", ["max", "mean", "cls"])
def test_pooling_matches_manual_computation(tiny_bert_dir: Path, pooling: str) -> None:
    encoder = load_text_encoder(tiny_bert_dir, pooling=pooling).eval()
    batch = _batch(tiny_bert_dir)
    with torch.no_grad():
        pooled = encoder(batch["input_ids"], batch["attention_mask"])
        hidden = encoder.model(**batch).last_hidden_state
    for i, n in enumerate(batch["attention_mask"].sum(dim=1).tolist()):
        real = hidden[i, :n]  # padding is at the end
        manual = {"max": real.max(dim=0).values, "mean": real.mean(dim=0), "cls": real[0]}[pooling]
        torch.testing.assert_close(pooled[i], manual)


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_padding_does_not_change_a_sentence(tiny_bert_dir: Path, pooling: str) -> None:
    encoder = load_text_encoder(tiny_bert_dir, pooling=pooling).eval()
    tokenizer = load_tokenizer(tiny_bert_dir)
    with torch.no_grad():
        together = encoder(**{k: v for k, v in _batch(tiny_bert_dir).items() if k != "token_type_ids"})
        alone = encoder(**{k: v for k, v in tokenize_texts(tokenizer, SENTENCES[1:2]).items() if k != "token_type_ids"})
    torch.testing.assert_close(together[1], alone[0], rtol=1e-5, atol=1e-5)


def test_frozen_layers_get_no_gradient(tiny_bert_dir: Path) -> None:
    encoder = load_text_encoder(tiny_bert_dir)  # [PAPER-CV]: embeddings + layers 0..5 frozen, max pooling
    assert (encoder.pooling, encoder.n_frozen_layers, encoder.freeze_embeddings) == ("max", 6, True)
    batch = _batch(tiny_bert_dir)
    encoder(batch["input_ids"], batch["attention_mask"]).sum().backward()
    for name, p in encoder.named_parameters():
        frozen = name.startswith(("model.embeddings.", "model.pooler.")) or any(
            name.startswith(f"model.encoder.layer.{i}.") for i in range(6))
        assert p.requires_grad is not frozen, name
        if frozen:
            assert p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name  # every trainable parameter is used (DDP)
    assert set(encoder.frozen_parameter_names()) == {n for n, p in encoder.named_parameters() if not p.requires_grad}


def test_embeddings_can_train(tiny_bert_dir: Path) -> None:
    encoder = load_text_encoder(tiny_bert_dir, n_frozen_layers=2, freeze_embeddings=False)  # the [RE] variant
    batch = _batch(tiny_bert_dir)
    encoder(batch["input_ids"], batch["attention_mask"]).sum().backward()
    assert encoder.model.embeddings.word_embeddings.weight.grad is not None
    assert encoder.model.encoder.layer[1].attention.self.query.weight.grad is None
    assert encoder.model.encoder.layer[2].attention.self.query.weight.grad is not None


def test_bad_arguments(tiny_bert_dir: Path, tmp_path: Path) -> None:
    model = BertModel(BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=16))
    with pytest.raises(ValueError, match=r"n_frozen_layers must be in \[0, 2\]"):
        TextEncoder(model, n_frozen_layers=3)
    with pytest.raises(ValueError, match="valid values are"):
        TextEncoder(model, pooling="attention")
    with pytest.raises(ValueError, match="config.hidden_size"):
        TextEncoder(torch.nn.Linear(2, 2), n_frozen_layers=0, freeze_embeddings=False)  # type: ignore[arg-type]
    not_bert = torch.nn.Linear(2, 2)
    not_bert.config = BertConfig(hidden_size=2)  # type: ignore[assignment]
    with pytest.raises(ValueError, match="BERT-style"):
        TextEncoder(not_bert, n_frozen_layers=1)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_text_encoder(tmp_path)
    with pytest.raises(ValueError, match="no real token"):
        TextEncoder(model, n_frozen_layers=0)(torch.ones(2, 3, dtype=torch.long), torch.tensor([[1, 1, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="non-empty list of strings"):
        tokenize_texts(load_tokenizer(tiny_bert_dir), [])

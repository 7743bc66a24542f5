"""Tokenizer training and offline round trips through AutoTokenizer (raddino_monai.text.tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer, BertTokenizerFast

from raddino_monai.text.tokenizer import (
    BERT_SPECIAL_TOKENS,
    CAUSAL_SPECIAL_TOKENS,
    save_tokenizer,
    train_bpe_tokenizer,
    train_wordpiece_tokenizer,
)


def test_bpe(corpus: list[str], tmp_path: Path) -> None:
    tok = train_bpe_tokenizer(corpus, vocab_size=300)
    assert [tok.convert_ids_to_tokens(i) for i in range(4)] == list(CAUSAL_SPECIAL_TOKENS.values())
    assert (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (0, 1, 2, 3)
    text = "Mild cardiomegaly. Unseen wörd 3.5 cm!"
    ids = tok(text)["input_ids"]
    assert tok.unk_token_id not in ids and ids[0] != tok.bos_token_id  # byte-level; nothing added on encoding
    assert tok.decode(ids) == text
    assert len(tok) <= 300
    folder = save_tokenizer(tok, tmp_path / "bpe")
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    loaded = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert loaded(text)["input_ids"] == ids and loaded.pad_token == "<pad>" and loaded.eos_token == "</s>"


def test_bpe_is_deterministic(corpus: list[str]) -> None:
    assert train_bpe_tokenizer(corpus, 300).get_vocab() == train_bpe_tokenizer(corpus, 300).get_vocab()


def test_wordpiece(corpus: list[str], tmp_path: Path) -> None:
    tok = train_wordpiece_tokenizer(corpus, vocab_size=200)
    assert [tok.convert_ids_to_tokens(i) for i in range(5)] == list(BERT_SPECIAL_TOKENS.values())
    ids = tok("Heart SIZE is normal.")["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "heart size is normal."
    folder = save_tokenizer(tok, tmp_path / "wp")
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"] == "BertTokenizerFast"
    vocab = (folder / "vocab.txt").read_text().splitlines()
    assert vocab[:5] == list(BERT_SPECIAL_TOKENS.values()) and len(vocab) == len(tok)
    loaded = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert loaded("Heart SIZE is normal.")["input_ids"] == ids
    # vocab.txt alone gives the same ids (as CheXbert-style code reads it)
    (tmp_path / "vocab_only").mkdir()
    (tmp_path / "vocab_only" / "vocab.txt").write_text((folder / "vocab.txt").read_text())
    from_vocab = BertTokenizerFast.from_pretrained(str(tmp_path / "vocab_only"))
    assert from_vocab("Heart SIZE is normal.")["input_ids"] == ids


def test_empty_corpus() -> None:
    with pytest.raises(ValueError, match="empty corpus"):
        train_bpe_tokenizer(["", "  "])

"""A tiny random-init BERT (8 layers, width 16) with a WordPiece vocabulary, saved as a local HF folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizer

WORDS = ["no", "pneumothorax", "the", "heart", "is", "mildly", "enlarged", ".", "small", "left", "pleural",
         "effusion", "lungs", "are", "clear", ","]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with config.json, model.safetensors (BertForMaskedLM, as a locally pretrained MLM) and the tokenizer."""
    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, model_max_length=32).save_pretrained(folder)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=8, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        BertForMaskedLM(config).save_pretrained(folder)
    return folder

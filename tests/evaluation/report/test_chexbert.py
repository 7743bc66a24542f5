"""CheXbert adapter: loads the released checkpoint format (tiny fake checkpoint) and says what is wrong otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from raddino_monai.evaluation.report.chexbert import CheXbertLabeler, chexbert_config, load_chexbert_state
from raddino_monai.evaluation.report.observations import CHEXPERT_OBSERVATIONS

from report_fakes import FAKE_HEAD_CLASSES, write_fake_chexbert


def test_loads_released_format_and_maps_classes(fake_chexbert: tuple[Path, Path]) -> None:
    checkpoint, vocab = fake_chexbert
    labeler = CheXbertLabeler(checkpoint, tokenizer=vocab, batch_size=2)
    labels = labeler.label_many(["no pleural effusion .", "mild cardiomegaly .", ""])
    expected = np.full(14, np.nan)
    for name, cls in FAKE_HEAD_CLASSES.items():
        expected[CHEXPERT_OBSERVATIONS.index(name)] = {1: 1.0, 2: 0.0, 3: -1.0}[cls]
    assert labels.shape == (3, 14)
    np.testing.assert_array_equal(labels, np.tile(expected, (3, 1)))
    # the BERT weights are the checkpoint's, not a fresh init
    saved = load_chexbert_state(checkpoint)
    for key, value in labeler.network.bert.state_dict().items():
        assert torch.equal(value, saved[f"bert.{key}"]), key
    assert labeler.network.bert.config.num_attention_heads == 1  # 64 // 64
    ids = labeler.tokenizer("No pleural effusion.")["input_ids"]  # the vocabulary file is really used
    assert labeler.tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "no", "pleural", "effusion", ".", "[SEP]"]


def test_config_from_shapes(fake_chexbert: tuple[Path, Path]) -> None:
    config = chexbert_config(load_chexbert_state(fake_chexbert[0]))
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers, config.intermediate_size,
            config.max_position_embeddings) == (15, 64, 2, 32, 64)  # fmt: skip


def test_tokenizer_next_to_checkpoint(fake_chexbert: tuple[Path, Path]) -> None:
    assert CheXbertLabeler(fake_chexbert[0]).label_many(["no effusion"]).shape == (1, 14)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CheXbertLabeler(tmp_path / "missing.pth", tokenizer=tmp_path)
    torch.save({"model_state_dict": {"weight": torch.zeros(2)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a CheXbert checkpoint"):
        load_chexbert_state(tmp_path / "other.pth")
    checkpoint, _ = write_fake_chexbert(tmp_path / "ck")
    (tmp_path / "ck" / "vocab.txt").unlink()
    with pytest.raises(FileNotFoundError, match="bert-base-uncased tokenizer"):
        CheXbertLabeler(checkpoint)
    content = torch.load(checkpoint, weights_only=True)
    del content["model_state_dict"]["module.linear_heads.13.bias"]
    torch.save(content, tmp_path / "broken.pth")
    write_fake_chexbert(tmp_path / "v")
    with pytest.raises(ValueError, match="missing.*linear_heads.13.bias"):
        CheXbertLabeler(tmp_path / "broken.pth", tokenizer=tmp_path / "v" / "vocab.txt")

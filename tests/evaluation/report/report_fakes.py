"""Fakes shared by the report-metric tests: a tiny CheXbert checkpoint in the released format."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertModel
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "pleural", "effusion", "heart", "size", "is", "normal",
         "mild", "cardiomegaly", "."]  # fmt: skip
#: class per CheXbert head (checkpoint order), forced through the head biases: 0 blank, 1 pos, 2 neg, 3 uncertain
FAKE_HEAD_CLASSES = {"Cardiomegaly": 1, "Edema": 2, "Pleural Effusion": 3, "No Finding": 1}
CHEXBERT_ORDER = ("Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
                  "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
                  "Fracture", "Support Devices", "No Finding")  # fmt: skip


def write_fake_chexbert(folder: Path, hidden: int = 64) -> tuple[Path, Path]:
    """A checkpoint in the released format (DataParallel prefix, ``model_state_dict``) and a ``vocab.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(WORDS) + "\n")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(WORDS), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=1,
                        intermediate_size=32, max_position_embeddings=64)  # fmt: skip
    state = {f"bert.{k}": v for k, v in BertModel(config, add_pooling_layer=True).state_dict().items()}
    state["bert.embeddings.position_ids"] = torch.arange(64)[None]  # saved by old transformers; must be tolerated
    for i, name in enumerate(CHEXBERT_ORDER):
        classes = 2 if name == "No Finding" else 4
        bias = torch.zeros(classes)
        bias[FAKE_HEAD_CLASSES.get(name, 0)] = 10.0
        state[f"linear_heads.{i}.weight"] = torch.zeros(classes, hidden)
        state[f"linear_heads.{i}.bias"] = bias
    checkpoint = folder / "chexbert.pth"
    torch.save({"epoch": 3, "model_state_dict": {f"module.{k}": v for k, v in state.items()}}, checkpoint)
    return checkpoint, vocab



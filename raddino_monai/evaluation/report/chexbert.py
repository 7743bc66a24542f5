"""CheXbert labeler (Smit et al., EMNLP 2020) from a local checkpoint, for CheXbert F1 of generated reports.

The released checkpoint (``chexbert.pth``, 1.3 GB; stanfordmlgroup/CheXbert, also ``StanfordAIMI/RRG_scorers``) is a
``torch.save`` dict whose ``model_state_dict`` holds, under a DataParallel ``module.`` prefix, a ``bert-base-uncased``
``BertModel`` (``bert.*``, with pooler) and 14 linear heads on the CLS state (``linear_heads.<i>.weight/bias``): 13
with 4 classes (0 blank, 1 positive, 2 negative, 3 uncertain) for :data:`CHEXBERT_CONDITIONS` ``[:13]`` and one with
2 classes (0 blank, 1 positive) for No Finding (CheXbert ``src/models/bert_labeler.py``, ``src/label.py``; read, not
copied). Reports are whitespace-normalised and tokenised with the ``bert-base-uncased`` WordPiece vocabulary,
truncated to 512 tokens (as f1chexbert's ``get_label``).

Nothing is downloaded: the checkpoint and a local ``bert-base-uncased`` tokenizer (folder, or its ``vocab.txt``)
are paths. The BERT configuration is read from the tokenizer folder's ``config.json`` when present, else inferred
from the checkpoint's tensor shapes (``num_attention_heads = hidden_size // 64``, the BERT-base convention). Weights
load with ``torch.load(weights_only=True)``.

Example::

    >>> labeler = CheXbertLabeler("/models/chexbert.pth", tokenizer="/models/bert-base-uncased")
    >>> labeler.label_many(["No pleural effusion. Mild cardiomegaly."])   # (1, 14), CHEXPERT_OBSERVATIONS order
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import BertConfig, BertModel, BertTokenizerFast, PreTrainedTokenizerBase

from raddino_monai.evaluation.report.observations import CHEXPERT_OBSERVATIONS

__all__ = ["CHEXBERT_CONDITIONS", "CHEXBERT_CLASSES", "CheXbertLabeler", "load_chexbert_state", "chexbert_config"]

#: head order of the checkpoint (CheXbert ``src/constants.py`` ``CONDITIONS``)
CHEXBERT_CONDITIONS: tuple[str, ...] = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
    "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices",
    "No Finding",
)  # fmt: skip
#: head class index -> label (CheXbert ``CLASS_MAPPING``: blank, positive, negative, uncertain)
CHEXBERT_CLASSES: dict[int, float] = {0: np.nan, 1: 1.0, 2: 0.0, 3: -1.0}
_BENIGN_EXTRA = re.compile(r"^bert\.embeddings\.position_ids$")  # buffer saved by old transformers versions


def load_chexbert_state(checkpoint: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors without the DataParallel ``module.`` prefix.

    Args:
        checkpoint: ``chexbert.pth`` (a dict with ``model_state_dict``, or a bare state dict).

    Returns:
        ``{name: tensor}`` with ``bert.*`` and ``linear_heads.*`` keys.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it holds no CheXbert weights (the message names the file and the keys found).
    """
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"CheXbert checkpoint {path} does not exist.")
    content = torch.load(path, map_location="cpu", weights_only=True)
    state = content.get("model_state_dict", content) if isinstance(content, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a dict with 'model_state_dict', found {type(content).__name__}.")
    state = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not any(k.startswith("linear_heads.") for k in state) or "bert.embeddings.word_embeddings.weight" not in state:
        raise ValueError(f"{path}: not a CheXbert checkpoint (no 'bert.embeddings.*' and 'linear_heads.*' tensors); "
                         f"found keys {sorted(state)[:6]}...")  # fmt: skip
    return state


def chexbert_config(state: dict[str, torch.Tensor], num_attention_heads: int | None = None) -> BertConfig:
    """A ``BertConfig`` matching the checkpoint's tensor shapes.

    Args:
        state: from :func:`load_chexbert_state`.
        num_attention_heads: heads per layer; default ``hidden_size // 64`` (BERT-base: 12).

    Returns:
        the configuration (vocabulary, width, depth, feed-forward size, positions, token types from the shapes).
    """
    vocab, hidden = state["bert.embeddings.word_embeddings.weight"].shape
    layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"bert\.encoder\.layer\.(\d+)\.", k)))
    return BertConfig(
        vocab_size=int(vocab), hidden_size=int(hidden), num_hidden_layers=layers,
        num_attention_heads=num_attention_heads or max(1, int(hidden) // 64),
        intermediate_size=int(state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0]),
        max_position_embeddings=int(state["bert.embeddings.position_embeddings.weight"].shape[0]),
        type_vocab_size=int(state["bert.embeddings.token_type_embeddings.weight"].shape[0]),
    )  # fmt: skip


class _CheXbertNetwork(nn.Module):
    """BertModel + 14 linear heads on the CLS state (CheXbert ``bert_labeler``, inference only)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.bert = BertModel(config, add_pooling_layer=True)
        self.linear_heads = nn.ModuleList([nn.Linear(config.hidden_size, 4) for _ in range(13)])
        self.linear_heads.append(nn.Linear(config.hidden_size, 2))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
        cls = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]
        return [head(cls) for head in self.linear_heads]


def _load_tokenizer(tokenizer: str | os.PathLike[str]) -> tuple[PreTrainedTokenizerBase, dict]:
    """A lower-casing BERT tokenizer from a folder (``vocab.txt`` / ``tokenizer.json``) or a vocabulary file."""
    path = Path(tokenizer).expanduser()
    if path.is_file():  # a vocabulary file: load it as the vocab.txt of a folder of its own
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copyfile(path, Path(tmp) / "vocab.txt")
            return BertTokenizerFast.from_pretrained(tmp, do_lower_case=True), {}
    if not (path / "vocab.txt").is_file() and not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(f"CheXbert tokenizer {path}: expected a local bert-base-uncased folder (vocab.txt or "
                                "tokenizer.json) or its vocab.txt file.")  # fmt: skip
    config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    return BertTokenizerFast.from_pretrained(str(path), local_files_only=True), config


class CheXbertLabeler:
    """Label reports with a local CheXbert checkpoint.

    Args:
        checkpoint: ``chexbert.pth``.
        tokenizer: local ``bert-base-uncased`` folder or its ``vocab.txt``; default: a ``vocab.txt`` or
            ``bert-base-uncased/`` next to the checkpoint.
        device: torch device.
        batch_size: reports per forward pass.
        max_length: tokens per report (CheXbert: 512).

    Raises:
        FileNotFoundError: checkpoint or tokenizer missing (the message says what to pass).
        ValueError: the file is not a CheXbert checkpoint, or its tensors do not fit (missing / unexpected keys
            listed).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str],
        tokenizer: str | os.PathLike[str] | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        max_length: int = 512,
    ) -> None:
        state = load_chexbert_state(checkpoint)
        if tokenizer is None:
            here = Path(checkpoint).expanduser().parent
            found = [p for p in (here / "vocab.txt", here / "bert-base-uncased") if p.exists()]
            if not found:
                raise FileNotFoundError(f"CheXbert needs the bert-base-uncased tokenizer: pass tokenizer=<local "
                                        f"bert-base-uncased folder or vocab.txt> (none found next to {checkpoint}).")
            tokenizer = found[0]
        self.tokenizer, hf_config = _load_tokenizer(tokenizer)
        config = chexbert_config(state, hf_config.get("num_attention_heads"))
        self.network = _CheXbertNetwork(config)
        state = {k: v for k, v in state.items() if not _BENIGN_EXTRA.match(k)}
        missing, unexpected = self.network.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{checkpoint}: tensors do not fit the CheXbert network; missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}.")  # fmt: skip
        self.device = torch.device(device)
        self.network.to(self.device).eval()
        self.batch_size, self.max_length = batch_size, max_length

    @torch.inference_mode()
    def label_many(self, texts: Sequence[str]) -> np.ndarray:
        """CheXbert labels of ``texts``.

        Args:
            texts: reports (empty strings allowed).

        Returns:
            ``(N, 14)`` float array in ``CHEXPERT_OBSERVATIONS`` order: 1 positive, 0 negative, -1 uncertain, NaN
            blank.
        """
        columns = [CHEXBERT_CONDITIONS.index(name) for name in CHEXPERT_OBSERVATIONS]
        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = [" ".join(str(t).split()) for t in texts[start : start + self.batch_size]]
            encoded = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt").to(self.device)  # fmt: skip
            logits = self.network(encoded["input_ids"], encoded["attention_mask"])
            classes = torch.stack([out.argmax(dim=1) for out in logits], dim=1).cpu().numpy()
            rows.append(np.vectorize(CHEXBERT_CLASSES.get, otypes=[float])(classes)[:, columns])
        return np.concatenate(rows) if rows else np.zeros((0, len(CHEXPERT_OBSERVATIONS)))

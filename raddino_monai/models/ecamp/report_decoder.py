"""ECAMP's report decoder: a BERT masked-language model whose input embeddings are fused with image context.

[ECAMP] ToniChopp/ECAMP @ d02d16d:

* ``Pre-training/module/model_ecamp.py`` lines 98-99, 267-273: the encoder output (CLS + visible patch tokens of the
  masked image) goes through ``bert_mlp`` (``Linear(D_image, 768)``); the CLS token is dropped and the mean of the
  patch tokens is the global ("GAP") token.
* ``bert_modeling.py``: ``BertForMaskedLM`` whose ``BertModel.forward`` runs the embeddings, then the
  :class:`~raddino_monai.models.ecamp.context_fusion.ContextFusionLayer`, then the usual encoder layers (no
  cross-attention inside them) and the MLM head ``cls``.
* ``bert_config.py``: the BERT is **randomly initialised** with vocab 30000 (its MIMIC WordPiece), hidden 768,
  6 layers, 6 heads, intermediate 1536, max 256 positions, dropout 0.1 (:func:`ecamp_bert_config`).

Here the BERT is either built from that config (with a vocabulary size taken from the tokenizer) or loaded from a
local Hugging Face folder (e.g. the small BERT built by the project's text tools, or a user's own); nothing is
downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from transformers import BertConfig, BertForMaskedLM

from raddino_monai.models.ecamp.context_fusion import ContextFusionLayer, additive_padding_mask
from raddino_monai.models.ecamp.mae_decoder import mae_init_

__all__ = ["ecamp_bert_config", "ReportDecoder", "build_report_decoder"]

#: [ECAMP] ``Pre-training/module/bert_config.py`` defaults (``vocab_size`` comes from the tokenizer).
ECAMP_BERT_DEFAULTS: dict[str, Any] = {
    "hidden_size": 768,
    "num_hidden_layers": 6,
    "num_attention_heads": 6,
    "intermediate_size": 1536,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 256,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
}


def ecamp_bert_config(vocab_size: int, pad_token_id: int = 0, **overrides: Any) -> BertConfig:
    """ECAMP's report-decoder BERT config ([ECAMP] ``bert_config.py``) for a given vocabulary.

    Args:
        vocab_size: tokenizer vocabulary size ([ECAMP]: 30000, its ``mimic_wordpiece.json``).
        pad_token_id: the tokenizer's padding id ([ECAMP] 0).
        overrides: any ``BertConfig`` field (e.g. ``hidden_size=64`` for a CPU test).

    Raises:
        ValueError: an override that ``BertConfig`` does not have.
    """
    unknown = sorted(k for k in overrides if k not in ECAMP_BERT_DEFAULTS and not hasattr(BertConfig(), k))
    if unknown:
        raise ValueError(f"Unknown BertConfig field(s) {unknown}; ECAMP defaults are {sorted(ECAMP_BERT_DEFAULTS)}.")
    return BertConfig(vocab_size=vocab_size, pad_token_id=pad_token_id, **{**ECAMP_BERT_DEFAULTS, **overrides})


class ReportDecoder(nn.Module):
    """Image-conditioned BERT MLM ([ECAMP] ``MultimodalBertMaskedLM`` + ``bert_mlp``).

    Args:
        mlm: a transformers ``BertForMaskedLM``.
        image_dim: width D of the image encoder's tokens.

    Attributes:
        mlm: the BERT (``mlm.bert.embeddings``, ``mlm.bert.encoder``, MLM head ``mlm.cls``).
        image_proj: ``Linear(D, H)`` ([ECAMP] ``bert_mlp``).
        fusion: the context fusion layer ([ECAMP] ``context_fusion_layer``).
    """

    def __init__(self, mlm: BertForMaskedLM, image_dim: int) -> None:
        super().__init__()
        self.mlm = mlm
        hidden = int(mlm.config.hidden_size)
        self.image_proj = nn.Linear(image_dim, hidden)
        self.fusion = ContextFusionLayer(mlm.config)
        self.image_proj.apply(mae_init_)  # [ECAMP] model_ecamp.py line 124: self.apply(_init_weights) on every Linear
        self.fusion.apply(mae_init_)

    @property
    def vocab_size(self) -> int:
        """Output vocabulary V."""
        return int(self.mlm.config.vocab_size)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        image_tokens: Tensor,
        token_type_ids: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """MLM logits of a (masked) report given the image encoder's output.

        Args:
            input_ids: ``(B, T)`` token ids (masked by the entity-aware MLM transform).
            attention_mask: ``(B, T)`` 1 = token, 0 = padding.
            image_tokens: ``(B, 1 + K, D)`` encoder output, CLS first then the K visible patches.
            token_type_ids: ``(B, T)`` segment ids (default zeros).

        Returns:
            ``{"logits": (B, T, V), "cross_attention": (B, heads, T, K)}``.

        Raises:
            ValueError: ``input_ids`` longer than the BERT's position table, or batch sizes that differ.
        """
        if input_ids.shape[1] > self.mlm.config.max_position_embeddings:
            raise ValueError(
                f"reports of {input_ids.shape[1]} tokens exceed the BERT's max_position_embeddings="
                f"{self.mlm.config.max_position_embeddings}; lower the tokenizer max_length."
            )
        if image_tokens.shape[0] != input_ids.shape[0]:
            raise ValueError(f"{image_tokens.shape[0]} images for {input_ids.shape[0]} reports.")
        latent = self.image_proj(image_tokens)
        patches = latent[:, 1:]
        global_token = patches.mean(dim=1, keepdim=True)  # [ECAMP] model_ecamp.py lines 269-271
        bert = self.mlm.bert
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        embeddings = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        fused, cross_attention = self.fusion(embeddings, attention_mask, patches, global_token)
        mask = additive_padding_mask(attention_mask, fused.dtype)
        hidden = bert.encoder(fused, attention_mask=mask).last_hidden_state
        return {"logits": self.mlm.cls(hidden), "cross_attention": cross_attention}


def build_report_decoder(
    image_dim: int,
    *,
    text_model: str | Path | None = None,
    vocab_size: int | None = None,
    pad_token_id: int = 0,
    **config_overrides: Any,
) -> ReportDecoder:
    """Build ECAMP's report decoder: random-init ECAMP BERT, or a BERT MLM read from a local folder.

    Args:
        image_dim: image encoder width D.
        text_model: local Hugging Face folder of a BERT (``model_type == "bert"``; a plain ``BertModel`` folder gets
            a new MLM head). ``None`` builds :func:`ecamp_bert_config` with random weights, as ECAMP does; its
            Linear layers get ECAMP's xavier init ([ECAMP] ``model_ecamp.py`` ``initialize_weights``).
        vocab_size: tokenizer vocabulary size; required without ``text_model``, checked against it otherwise.
        pad_token_id: padding id for a new BERT.
        config_overrides: ``BertConfig`` fields for a new BERT (an error together with ``text_model``).

    Returns:
        the :class:`ReportDecoder`, in training mode.

    Raises:
        FileNotFoundError: ``text_model`` is not a folder with ``config.json``.
        ValueError: not a BERT, a vocabulary that differs from the tokenizer's, missing ``vocab_size``, or overrides
            given together with ``text_model``.

    Example:
        >>> dec = build_report_decoder(192, vocab_size=100, hidden_size=32, num_hidden_layers=1,
        ...                            num_attention_heads=2, intermediate_size=64)
        >>> dec(torch.zeros(2, 8, dtype=torch.long), torch.ones(2, 8), torch.randn(2, 5, 192))["logits"].shape
        torch.Size([2, 8, 100])
    """
    if text_model is None:
        if vocab_size is None:
            raise ValueError("build_report_decoder: give vocab_size (the tokenizer's) when no text_model is used.")
        mlm = BertForMaskedLM(ecamp_bert_config(vocab_size, pad_token_id, **config_overrides))
        mlm.apply(mae_init_)  # [ECAMP]: the whole model, BERT included, gets xavier Linear init
        return ReportDecoder(mlm, image_dim)
    folder = Path(text_model)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"text_model {folder} is not a Hugging Face model folder (no config.json).")
    if config_overrides:
        raise ValueError(f"config overrides {sorted(config_overrides)} cannot change the BERT read from {folder}.")
    return ReportDecoder(_load_bert_mlm(folder, vocab_size), image_dim)


def _load_bert_mlm(folder: Path, vocab_size: int | None) -> BertForMaskedLM:
    """Read a BERT MLM from ``folder`` (local files only) and check its vocabulary against the tokenizer's."""
    model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    if model_type != "bert":
        raise ValueError(f"{folder}/config.json: ECAMP's report decoder needs a BERT (model_type 'bert'); found "
                         f"{model_type!r}.")
    mlm = BertForMaskedLM.from_pretrained(str(folder), local_files_only=True)
    if vocab_size is not None and int(mlm.config.vocab_size) != int(vocab_size):
        raise ValueError(f"{folder}: the BERT has vocab_size {mlm.config.vocab_size}; the tokenizer has {vocab_size}.")
    return mlm

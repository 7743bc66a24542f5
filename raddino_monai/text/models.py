"""Random-init causal LM and BERT builders sized by :mod:`raddino_monai.text.config`, wired to a tokenizer.

The models are plain ``transformers`` classes (``LlamaForCausalLM`` / ``GPT2LMHeadModel``, ``BertForMaskedLM``), so
``save_pretrained`` writes ordinary Hugging Face folders that ``AutoModelForCausalLM`` / ``AutoModel`` load. Special
token ids (pad, bos, eos) and the vocabulary size come from the tokenizer, so a model and its tokenizer never
disagree. Initialisation is the library's own (seed the global torch RNG before building for reproducibility).

Example:
    >>> from raddino_monai.text.tokenizer import train_bpe_tokenizer
    >>> tok = train_bpe_tokenizer(["No effusion."] * 10, vocab_size=280)
    >>> model = build_causal_lm(CausalLMConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tok)
    >>> type(model).__name__, model.config.pad_token_id == tok.pad_token_id
    ('LlamaForCausalLM', True)
"""

from __future__ import annotations

from collections.abc import Callable

from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from raddino_monai.text.config import BertEncoderConfig, CausalLMConfig

__all__ = ["CAUSAL_ARCHITECTURES", "causal_lm_config", "build_causal_lm", "bert_config", "build_masked_lm"]


def _llama(cfg: CausalLMConfig, vocab: int, ids: dict[str, int | None]) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_position_embeddings, attention_dropout=cfg.dropout,
        tie_word_embeddings=cfg.tie_word_embeddings, **ids,
    )  # fmt: skip


def _gpt2(cfg: CausalLMConfig, vocab: int, ids: dict[str, int | None]) -> GPT2Config:
    return GPT2Config(
        vocab_size=vocab, n_embd=cfg.hidden_size, n_inner=cfg.intermediate_size, n_layer=cfg.num_layers,
        n_head=cfg.num_heads, n_positions=cfg.max_position_embeddings, resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout, tie_word_embeddings=cfg.tie_word_embeddings, **ids,
    )  # fmt: skip


_CAUSAL: dict[str, tuple[Callable[..., PretrainedConfig], type[PreTrainedModel]]] = {
    "llama": (_llama, LlamaForCausalLM),
    "gpt2": (_gpt2, GPT2LMHeadModel),
}
#: valid ``CausalLMConfig.architecture`` values
CAUSAL_ARCHITECTURES: tuple[str, ...] = tuple(_CAUSAL)


def _check_heads(hidden: int, heads: int) -> None:
    if hidden % heads:
        raise ValueError(f"hidden_size {hidden} must be divisible by num_heads {heads}.")


def causal_lm_config(cfg: CausalLMConfig, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    """The ``transformers`` configuration of the causal LM.

    Args:
        cfg: sizes and architecture.
        tokenizer: gives ``vocab_size`` (``len(tokenizer)``) and the pad / bos / eos ids.

    Returns:
        ``LlamaConfig`` or ``GPT2Config``.

    Raises:
        ValueError: unknown architecture (valid values listed) or width not divisible by the heads.
    """
    if cfg.architecture not in _CAUSAL:
        raise ValueError(f"architecture={cfg.architecture!r} is not valid; valid values are {list(_CAUSAL)}.")
    _check_heads(cfg.hidden_size, cfg.num_heads)
    ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
           "eos_token_id": tokenizer.eos_token_id}  # fmt: skip
    return _CAUSAL[cfg.architecture][0](cfg, len(tokenizer), ids)


def build_causal_lm(cfg: CausalLMConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """A random-init causal LM for ``tokenizer`` (``LlamaForCausalLM`` or ``GPT2LMHeadModel``)."""
    config = causal_lm_config(cfg, tokenizer)
    model = _CAUSAL[cfg.architecture][1](config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def bert_config(cfg: BertEncoderConfig, tokenizer: PreTrainedTokenizerBase) -> BertConfig:
    """The ``BertConfig`` of the text encoder (vocabulary and pad id from ``tokenizer``).

    Raises:
        ValueError: width not divisible by the heads.
    """
    _check_heads(cfg.hidden_size, cfg.num_heads)
    return BertConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_position_embeddings, hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip


def build_masked_lm(cfg: BertEncoderConfig, tokenizer: PreTrainedTokenizerBase) -> BertForMaskedLM:
    """A random-init ``BertForMaskedLM`` whose ``.bert`` has a pooler.

    ``AutoModel.from_pretrained(folder)`` loads ``.bert``. ``BertForMaskedLM`` drops the pooler, so the folder would
    lack it and every ``AutoModel`` load would draw a new random one; here it is kept (and saved), so loads agree.
    MLM does not train it: pool ``last_hidden_state`` (CLS or mean) for sentence embeddings.
    """
    config = bert_config(cfg, tokenizer)
    model = BertForMaskedLM(config)
    model.bert = BertModel(config, add_pooling_layer=True)
    model.post_init()
    return model

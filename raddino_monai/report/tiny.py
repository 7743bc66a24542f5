"""Random-init causal LMs with a byte-level BPE tokenizer, saved as local HF folders: the offline stand-in LM of the
tests, the tutorial and the benchmark (nothing is downloaded; no weights are trained beyond the tokenizer).

The tokenizer is a ``tokenizers`` byte-level BPE trained on the given texts and wrapped as a transformers
``PreTrainedTokenizerFast`` (``<|endoftext|>`` = bos / eos / unk). Models come from a seeded config of one of
:data:`TINY_LM_FAMILIES` (GPT-2, LLaMA, Qwen2, Phi), with weight init std 0.2 (10x transformers' 0.02) so that the
logits are peaked: a random LM then reacts to its input instead of repeating one token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["TINY_LM_FAMILIES", "train_bpe_tokenizer", "build_random_lm"]

#: weight init std of the random LMs (see the module docstring)
INIT_STD = 0.2


def _gpt2(vocab: int, eos: int, hidden: int, layers: int) -> Any:
    from transformers import GPT2Config

    return GPT2Config(vocab_size=vocab, n_embd=hidden, n_layer=layers, n_head=2, n_positions=1024,
                      bos_token_id=eos, eos_token_id=eos, initializer_range=INIT_STD)


def _decoder(config_cls: str, **extra: Any) -> Callable[[int, int, int, int], Any]:
    def build(vocab: int, eos: int, hidden: int, layers: int) -> Any:
        import transformers

        return getattr(transformers, config_cls)(
            vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
            num_attention_heads=2, max_position_embeddings=1024, bos_token_id=eos, eos_token_id=eos,
            initializer_range=INIT_STD, **extra)

    return build


#: family -> config builder ``(vocab, eos_id, hidden, layers)``
TINY_LM_FAMILIES: dict[str, Callable[[int, int, int, int], Any]] = {
    "gpt2": _gpt2,
    "llama": _decoder("LlamaConfig", num_key_value_heads=1),
    "qwen2": _decoder("Qwen2Config", num_key_value_heads=1),
    "phi": _decoder("PhiConfig"),
}


def train_bpe_tokenizer(texts: Sequence[str], vocab_size: int = 320) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts`` (``<|endoftext|>`` = bos / eos / unk)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")


def build_random_lm(
    folder: str | Path,
    texts: Sequence[str],
    family: str = "gpt2",
    hidden_size: int = 32,
    num_layers: int = 2,
    vocab_size: int = 320,
    seed: int = 0,
) -> Path:
    """Save a seeded random-init causal LM and a BPE tokenizer trained on ``texts`` to ``folder``.

    Args:
        folder: output folder (an HF folder that :func:`~raddino_monai.report.lm.load_causal_lm` reads).
        texts: tokenizer training texts.
        family: a key of :data:`TINY_LM_FAMILIES`.
        hidden_size: model width.
        num_layers: transformer blocks.
        vocab_size: BPE vocabulary size.
        seed: weight init seed (the caller's RNG is untouched).

    Returns:
        ``folder``.

    Raises:
        ValueError: unknown family (valid values listed).
    """
    from transformers import AutoModelForCausalLM

    if family not in TINY_LM_FAMILIES:
        raise ValueError(f"Unknown LM family {family!r}; valid values: {sorted(TINY_LM_FAMILIES)}.")
    tokenizer = train_bpe_tokenizer(texts, vocab_size)
    config = TINY_LM_FAMILIES[family](len(tokenizer), tokenizer.eos_token_id, hidden_size, num_layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder

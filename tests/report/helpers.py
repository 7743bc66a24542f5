"""Tiny random-init causal LMs (GPT-2, LLaMA, Qwen2, Phi) with a byte-level BPE tokenizer, saved as local HF folders.

Nothing is downloaded: the tokenizer is trained here on :data:`REPORTS` (short findings written for these tests, no
licence restrictions) with the ``tokenizers`` library, and each model is drawn from a seeded config.
"""

from __future__ import annotations

from pathlib import Path

import torch

#: handwritten findings-style texts (written for the tests; free of any licence)
REPORTS = [
    "The lungs are clear. No pleural effusion or pneumothorax. The heart size is normal.",
    "Right lower lobe consolidation. Small right pleural effusion. Heart size is normal.",
    "Cardiomegaly with mild pulmonary edema. No pneumothorax.",
    "Left upper lobe opacity, possibly pneumonia. No effusion.",
    "Bilateral patchy airspace opacities. Cannot exclude infection.",
    "No acute cardiopulmonary abnormality.",
    "Endotracheal tube in place. Lungs are clear.",
    "Large left pleural effusion with adjacent atelectasis.",
]

HIDDEN = 32
#: weight init std, 10x transformers' 0.02: peaked logits, so greedy decoding is far from ties and varies with the
#: input (at 0.02 a random LM repeats one token whatever it is given)
INIT_STD = 0.2


def make_tokenizer(texts: list[str] = REPORTS, vocab_size: int = 320):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ``<|endoftext|>`` as bos / eos / unk."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")


def _config(family: str, vocab: int, eos: int):
    from transformers import GPT2Config, LlamaConfig, PhiConfig, Qwen2Config

    common = dict(vocab_size=vocab, bos_token_id=eos, eos_token_id=eos, initializer_range=INIT_STD)
    small = dict(hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 max_position_embeddings=512, **common)
    builders = {
        "gpt2": lambda: GPT2Config(n_embd=HIDDEN, n_layer=2, n_head=2, n_positions=512, **common),
        "llama": lambda: LlamaConfig(num_key_value_heads=1, **small),
        "qwen2": lambda: Qwen2Config(num_key_value_heads=1, **small),
        "phi": lambda: PhiConfig(**small),
    }
    return builders[family]()


FAMILIES = ("gpt2", "llama", "qwen2", "phi")


def make_lm_folder(folder: Path, family: str = "gpt2", seed: int = 0) -> Path:
    """Save a seeded random-init ``family`` causal LM and the test tokenizer to ``folder``."""
    from transformers import AutoModelForCausalLM

    tokenizer = make_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(_config(family, len(tokenizer), tokenizer.eos_token_id))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_model(folder: Path, feature_dim: int = 16, **config_overrides):
    """A :class:`ReportGenerator` on the saved tiny LM (template ``plain``, short budget), seeded projector."""
    from raddino_monai.report import ReportGenerator, ReportModelConfig, load_causal_lm

    lm, tokenizer = load_causal_lm(folder)
    config = ReportModelConfig(**{"template": "plain", "model_max_length": 128, **config_overrides})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        return ReportGenerator(lm, tokenizer, feature_dim, config, lm_source=str(folder))

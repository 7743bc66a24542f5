"""Defaults of the report-text builders, one dataclass per part, a reason (and source) per field.

Sizes are chosen for the 2-core CPU machines this project runs on and for report corpora of thousands of reports
(Open-i: 3955): a 4-layer, 256-wide transformer trains at ~0.3 s per batch of 16 reports here
(``/work/shared/reference/text_and_serving.md``: random-init GPT-2 4 x 256, vocab 4096, batch 16 x 96 tokens:
0.34 s/step). Optimiser defaults follow nanoGPT's small-model recipe (karpathy/nanoGPT
``config/train_shakespeare_char.py``: lr 1e-3, 100 warm-up iterations, cosine to lr/10, weight decay 0.1,
beta2 0.99, gradient clip 1.0), which is tuned for small models on small corpora; BERT masking follows Devlin et al.
(NAACL 2019).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenizerConfig", "CausalLMConfig", "BertEncoderConfig", "PretrainConfig"]


@dataclass
class TokenizerConfig:
    """Tokenizer training (``tokenizers`` BPE / WordPiece trainers)."""

    vocab_size: int = 4096
    """Upper bound of the vocabulary. Reports use a few thousand distinct words (Open-i: ~2k after lower-casing),
    so 4096 entries hold them and common sub-words; a large vocabulary would be mostly unused embedding rows."""
    min_frequency: int = 2
    """A merge / word piece must occur at least twice: one-off typos and ids do not become tokens."""


@dataclass
class CausalLMConfig:
    """A small causal LM from scratch (the LLM of the LLaVA-style report generator)."""

    architecture: str = "llama"
    """``"llama"`` (RoPE, RMSNorm, SwiGLU: the family of Vicuna, the paper's LM, and of SmolLM2) or ``"gpt2"``."""
    hidden_size: int = 256
    """Width: 4 x 256 trains at ~0.3 s per 16-report batch on 2 cores (measured, see module docstring)."""
    num_layers: int = 4
    """Depth, as measured above."""
    num_heads: int = 4
    """Head dimension 64, as GPT-2 and LLaMA use."""
    intermediate_size: int = 1024
    """Feed-forward width 4 x hidden (GPT-2's ratio; LLaMA's SwiGLU often uses ~2.7 x, 4 x keeps one setting)."""
    max_position_embeddings: int = 2048
    """Context: 1369 image tokens of ViT-B/14 at 518 px ([PAPER]) + prompt + 150 new tokens fit."""
    dropout: float = 0.0
    """nanoGPT's pretraining default (dropout mostly hurts when the data is seen only a few times)."""
    tie_word_embeddings: bool = True
    """Input and output embeddings shared (GPT-2): saves vocab x hidden parameters in a small model."""


@dataclass
class BertEncoderConfig:
    """A small BERT text encoder pretrained with masked language modelling (for ConVIRT / ECAMP)."""

    hidden_size: int = 256
    """Width, same compute budget as the causal LM."""
    num_layers: int = 4
    """Depth; ConVIRT freezes the first 6 of 12 ClinicalBERT layers, so with 4 layers freeze fewer."""
    num_heads: int = 4
    """Head dimension 64 (BERT-base: 768 / 12)."""
    intermediate_size: int = 1024
    """4 x hidden, BERT's ratio."""
    max_position_embeddings: int = 512
    """BERT / ClinicalBERT / CheXbert length (ECAMP truncates reports to 256 tokens, which fits)."""
    dropout: float = 0.1
    """BERT's hidden and attention dropout."""
    mlm_probability: float = 0.15
    """Share of tokens selected for prediction (BERT)."""
    mask_replace_prob: float = 0.8
    """Selected tokens replaced by [MASK] (BERT's 80 %)."""
    random_replace_prob: float = 0.1
    """Selected tokens replaced by a random token (BERT's 10 %; the remaining 10 % stay unchanged)."""


@dataclass
class PretrainConfig:
    """The pretraining loop (:func:`raddino_monai.text.pretrain.pretrain_text_model`)."""

    epochs: int = 3
    """Passes over the corpus: 3 x 3955 Open-i reports = ~740 steps of 16, a few minutes on 2 cores."""
    batch_size: int = 16
    """Reports per step, as measured above."""
    lr: float = 1e-3
    """Peak learning rate (nanoGPT shakespeare_char: small model, small corpus)."""
    min_lr_ratio: float = 0.1
    """Cosine decay to lr / 10 (nanoGPT ``min_lr = learning_rate / 10``)."""
    warmup_steps: int = 100
    """Linear warm-up (nanoGPT shakespeare_char ``warmup_iters = 100``); clamped to the run length."""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay on tensors with >= 2 dimensions (matrices, embeddings), not on biases and norms
    (nanoGPT ``configure_optimizers``)."""
    beta1: float = 0.9
    """AdamW beta1 (nanoGPT)."""
    beta2: float = 0.99
    """AdamW beta2 (nanoGPT shakespeare_char: 0.99 for small batches)."""
    clip_grad: float = 1.0
    """Global gradient-norm clip (nanoGPT); 0 disables."""
    max_length: int = 256
    """Tokens per report, special tokens included; longer reports are cut at a sentence end (``text.corpus``)."""
    val_fraction: float = 0.05
    """Reports held out to report validation loss / perplexity (seeded split); 0 disables."""
    seed: int = 0
    """Seeds model init, data order, masking and the validation split."""
    precision: str = "fp32"
    """``"fp32"`` or ``"bf16"`` (autocast; 2-3 x faster on AMX CPUs, slightly different numbers)."""
    log_every: int = 10
    """Steps between TensorBoard scalars."""
    save_every: int = 200
    """Steps between checkpoints (and one at the end); resumable."""
    n_saved: int = 2
    """Checkpoints kept."""
    device: str = "cpu"
    """Training device."""
    num_workers: int = 0
    """DataLoader workers (tokenised reports are in memory; workers only add start-up time)."""

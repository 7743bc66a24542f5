"""Tiny configs shared by the tests/text modules (a module, not conftest, so tests can import it)."""

from __future__ import annotations

from raddino_monai.text.config import BertEncoderConfig, CausalLMConfig, PretrainConfig, TokenizerConfig

SENTENCES = [
    "No pleural effusion or pneumothorax. Heart size is normal.",
    "Mild cardiomegaly. Small left pleural effusion.",
    "The lungs are clear. No focal consolidation.",
    "Bibasilar opacities, likely atelectasis.",
    "Stable cardiomediastinal silhouette. No acute disease.",
    "Right lower lobe pneumonia. Recommend follow-up.",
]
TINY_TOKENIZER = TokenizerConfig(vocab_size=300)
TINY_LM = CausalLMConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_position_embeddings=64)
TINY_BERT = BertEncoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                              max_position_embeddings=64)  # fmt: skip
TINY_TRAIN = PretrainConfig(epochs=2, batch_size=4, max_length=24, warmup_steps=2, log_every=1, save_every=4,
                            val_fraction=0.2)  # fmt: skip

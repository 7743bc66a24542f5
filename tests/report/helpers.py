"""Shared test helpers: handwritten report texts and tiny random-init LMs (:mod:`raddino_monai.report.tiny`).

Nothing is downloaded: the tokenizer is trained here on :data:`REPORTS` (short findings written for these tests, no
licence restrictions), and each model is drawn from a seeded config.
"""

from __future__ import annotations

from pathlib import Path

import torch

from raddino_monai.report.tiny import TINY_LM_FAMILIES, build_random_lm, train_bpe_tokenizer

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

FAMILIES = tuple(sorted(TINY_LM_FAMILIES))


def make_tokenizer():
    """The BPE tokenizer of the tiny LMs."""
    return train_bpe_tokenizer(REPORTS)


def make_lm_folder(folder: Path, family: str = "gpt2", seed: int = 1) -> Path:
    """Save a seeded random-init ``family`` causal LM and the test tokenizer to ``folder``.

    Seed 1, because the GPT-2 drawn with seed 0 happens to repeat one token whatever its input (a random LM can be
    degenerate); the tests need LMs whose greedy output depends on the input.
    """
    return build_random_lm(folder, REPORTS, family=family, seed=seed)


def build_model(folder: Path, feature_dim: int = 16, **config_overrides):
    """A :class:`ReportGenerator` on the saved tiny LM (template ``plain``, short budget), seeded projector."""
    from raddino_monai.report import ReportGenerator, ReportModelConfig, load_causal_lm

    lm, tokenizer = load_causal_lm(folder)
    config = ReportModelConfig(**{"template": "plain", "model_max_length": 128, **config_overrides})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        return ReportGenerator(lm, tokenizer, feature_dim, config, lm_source=str(folder))

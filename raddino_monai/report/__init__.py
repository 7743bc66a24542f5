"""LLaVA-style radiology report generation on a frozen RAD-DINO encoder ([PAPER] report generation, LLaVA-1.5).

Frozen encoder patch tokens (:mod:`.features`) -> two-layer GELU MLP projector (:mod:`.projector`) -> image tokens
spliced into the prompt of a causal LM loaded from local files (:mod:`.lm`, :mod:`.model`, :mod:`.prompt`). Training
(:mod:`.train`, :mod:`.trainer`, :mod:`.modes`) updates the projector and the whole LM, LoRA adapters, or the
projector only, on cached features; :mod:`.saving` writes and reads trained models; :mod:`.decoding` is the
decoding path without KV cache; :mod:`.generate` writes ``id,report`` files; :mod:`.serving` holds the bundle's
inferer (one text per image) and writer; :mod:`.pipeline` the path-level functions behind ``tools/report.py``;
:mod:`.evidence` the CPU comparison of encoders; :mod:`.tiny` random-init LMs for tests, tutorial and benchmark.
See docs/report_generation.md.

Example::

    >>> from raddino_monai.report import ReportGenerator, load_causal_lm, ReportModelConfig
    >>> lm, tokenizer = load_causal_lm("smollm2")  # or a local Vicuna-7B v1.5 folder
    >>> model = ReportGenerator(lm, tokenizer, feature_dim=768, config=ReportModelConfig(template="chat"))
"""

from __future__ import annotations

from raddino_monai.report.config import (
    DEFAULT_PROMPT,
    IGNORE_INDEX,
    IMAGE_TOKEN,
    TRAINING_MODES,
    ReportGenerationConfig,
    ReportModelConfig,
    ReportTrainConfig,
    TrainingMode,
)
from raddino_monai.report.data import ReportCollate, ReportPairs, pair_features_with_reports
from raddino_monai.report.features import EncoderReference, cache_features, feature_tokens, load_feature_tokens
from raddino_monai.report.generate import generate_reports, read_reports, write_reports
from raddino_monai.report.lm import PACKAGED_LMS, load_causal_lm, packaged_gguf_path, resolve_lm
from raddino_monai.report.model import ReportGenerator, splice_image_tokens
from raddino_monai.report.modes import apply_training_mode, trainable_parameters
from raddino_monai.report.projector import PROJECTORS, build_projector
from raddino_monai.report.prompt import TEMPLATES, add_image_token, encode_example, encode_prompt, render_prompt
from raddino_monai.report.saving import load_projector_into, load_report_model, read_report_config, save_report_model
from raddino_monai.report.serving import ReportInferer, ReportWriter
from raddino_monai.report.train import build_report_trainer, train_report_model
from raddino_monai.report.trainer import ReportCheckpointHandler, ReportTrainer, cosine_with_warmup

__all__ = [
    "DEFAULT_PROMPT",
    "IGNORE_INDEX",
    "IMAGE_TOKEN",
    "PACKAGED_LMS",
    "PROJECTORS",
    "TEMPLATES",
    "TRAINING_MODES",
    "EncoderReference",
    "ReportCheckpointHandler",
    "ReportCollate",
    "ReportGenerationConfig",
    "ReportGenerator",
    "ReportInferer",
    "ReportModelConfig",
    "ReportPairs",
    "ReportTrainConfig",
    "ReportTrainer",
    "ReportWriter",
    "TrainingMode",
    "add_image_token",
    "apply_training_mode",
    "build_projector",
    "build_report_trainer",
    "cache_features",
    "cosine_with_warmup",
    "encode_example",
    "encode_prompt",
    "feature_tokens",
    "generate_reports",
    "load_causal_lm",
    "load_feature_tokens",
    "load_projector_into",
    "load_report_model",
    "packaged_gguf_path",
    "pair_features_with_reports",
    "read_report_config",
    "read_reports",
    "render_prompt",
    "resolve_lm",
    "save_report_model",
    "splice_image_tokens",
    "train_report_model",
    "trainable_parameters",
    "write_reports",
]

"""Settings of LLaVA-style report generation: the model, its training and its decoding, one dataclass each.

Every default cites its source next to it:

* ``[PAPER]`` RAD-DINO, arXiv 2401.10815, report-generation section (LLaVA-1.5 with Vicuna-7B v1.5, two-layer MLP
  projector on the frozen encoder's patch tokens, lr 2e-5, cosine, 3 % warm-up, 3 epochs, global batch 128, findings
  decoded up to 150 tokens), as summarised in the project's issue 13.
* ``[LLaVA]`` haotian-liu/LLaVA @c121f04: ``scripts/v1_5/finetune.sh`` (full fine-tune), ``finetune_lora.sh``,
  ``pretrain.sh`` (stage 1, projector only), ``llava/train/train.py`` (LoRA defaults, label masking),
  ``llava/conversation.py`` (``conv_vicuna_v1``), ``llava/constants.py``.
* ``[HF-TA]`` transformers ``TrainingArguments`` defaults (LLaVA trains with the HF ``Trainer``): AdamW betas
  (0.9, 0.999), eps 1e-8, ``max_grad_norm`` 1.0, warm-up steps ``ceil(ratio * total)``.

Deviations from the recipe are options, never silent changes; :class:`TrainingMode` holds the per-mode learning
rates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_PROMPT",
    "IMAGE_TOKEN",
    "IGNORE_INDEX",
    "PRECISIONS",
    "TrainingMode",
    "TRAINING_MODES",
    "ReportModelConfig",
    "ReportTrainConfig",
    "ReportGenerationConfig",
]

#: the instruction of [PAPER]; ``<image>`` marks where the projected patch tokens go
DEFAULT_PROMPT = "<image> Provide a description of the findings in the radiology image."
#: the image placeholder, added to the tokenizer as a special token ([LLaVA] ``DEFAULT_IMAGE_TOKEN``)
IMAGE_TOKEN = "<image>"
#: label value the loss ignores (prompt, image and padding positions; [LLaVA] ``IGNORE_INDEX``, torch's default)
IGNORE_INDEX = -100
#: ``precision`` values: fp32 everywhere, or bfloat16 autocast ([LLaVA] trains with ``--bf16 True``)
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainingMode:
    """What one training mode updates, and its learning rates.

    Args:
        name: ``"full"``, ``"lora"`` or ``"projector"``.
        trains_lm: the LM's own weights get gradients (all of them, or LoRA adapters only).
        lora: wrap the LM with peft LoRA adapters (the base weights stay frozen).
        lr: learning rate of the LM parameters it trains (``None`` when it trains none).
        projector_lr: learning rate of the projector.
        source: where the numbers come from.
    """

    name: str
    trains_lm: bool
    lora: bool
    lr: float | None
    projector_lr: float
    source: str


#: the three ways to train; the encoder is frozen in all of them
TRAINING_MODES: dict[str, TrainingMode] = {
    "full": TrainingMode("full", True, False, 2e-5, 2e-5, "[PAPER] lr 2e-5; [LLaVA] finetune.sh --learning_rate 2e-5"),
    "lora": TrainingMode(
        "lora", True, True, 2e-4, 2e-5, "[LLaVA] finetune_lora.sh --learning_rate 2e-4 --mm_projector_lr 2e-5"
    ),
    "projector": TrainingMode(
        "projector", False, False, None, 1e-3, "[LLaVA] pretrain.sh (stage 1, --tune_mm_mlp_adapter) lr 1e-3"
    ),
}


@dataclass
class ReportModelConfig:
    """How image features become LM input. Saved with every trained model (``report_config.json``).

    Args:
        projector: projector name in :data:`raddino_monai.report.projector.PROJECTORS`; ``"mlp2x_gelu"``
            (Linear-GELU-Linear) = [PAPER] two-layer MLP, [LLaVA] ``--mm_projector_type mlp2x_gelu``.
        use_cls: put the CLS token before the patch tokens. Default False: patch tokens only ([PAPER]; [LLaVA]
            ``mm_vision_select_feature="patch"`` drops CLS).
        prompt: the instruction; must contain ``image_token`` exactly once ([PAPER]).
        image_token: placeholder of the image tokens ([LLaVA] ``<image>``).
        template: conversation template in :data:`raddino_monai.report.prompt.TEMPLATES`; ``"vicuna_v1"`` =
            [LLaVA] ``--version v1`` (Vicuna v1.5, the paper's LM). ``"chat"`` uses the tokenizer's own chat
            template (e.g. SmolLM2-Instruct), ``"plain"`` the bare prompt.
        model_max_length: longest training sequence in tokens, image tokens included ([LLaVA] 2048). A report that
            does not fit is cut at the budget and gets no end-of-sequence token (the truncation policy).
        image_tokens: False = text-only baseline: the prompt without the image token, no image information.
    """

    projector: str = "mlp2x_gelu"
    use_cls: bool = False
    prompt: str = DEFAULT_PROMPT
    image_token: str = IMAGE_TOKEN
    template: str = "vicuna_v1"
    model_max_length: int = 2048
    image_tokens: bool = True

    def __post_init__(self) -> None:
        if self.prompt.count(self.image_token) != 1:
            raise ValueError(
                f"ReportModelConfig.prompt must contain the image token {self.image_token!r} exactly once, found "
                f"{self.prompt.count(self.image_token)} in {self.prompt!r}."
            )
        if self.model_max_length < 8:
            raise ValueError(f"ReportModelConfig.model_max_length must be >= 8, found {self.model_max_length}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy."""
        return dataclasses.asdict(self)


@dataclass
class ReportTrainConfig:
    """Training settings; defaults reproduce [PAPER] (LLaVA-1.5 fine-tuning), the rest is marked.

    Args:
        mode: ``"full"`` (projector + whole LM, [PAPER]), ``"lora"`` (projector + LoRA adapters) or
            ``"projector"`` (projector only, LLaVA-Rad-style stage 1); see :data:`TRAINING_MODES`.
        epochs: passes over the training set (3 [PAPER]; LLaVA-1.5 itself fine-tunes 1).
        global_batch_size: images per optimizer step (128 [PAPER]; [LLaVA] 16 per GPU x 8 GPUs).
        micro_batch_size: images per forward pass; the step accumulates ``ceil(global / micro)`` of them
            (16 = [LLaVA] ``per_device_train_batch_size``). Changes memory, not the maths.
        lr: learning rate of the trained LM parameters; ``None`` = the mode's default (:data:`TRAINING_MODES`).
        projector_lr: projector learning rate; ``None`` = the mode's default.
        warmup_ratio: linear warm-up share of the steps, ``ceil(ratio * steps)`` ([PAPER] 3 %, [HF-TA]); then a
            cosine to 0 ([LLaVA] ``--lr_scheduler_type cosine``).
        weight_decay: AdamW weight decay (0 [LLaVA]).
        adam_betas: AdamW betas ([HF-TA] 0.9, 0.999).
        adam_eps: AdamW eps ([HF-TA] 1e-8).
        max_grad_norm: gradient clipping over all trained parameters ([HF-TA] 1.0); 0 disables.
        precision: ``"bf16"`` autocast ([LLaVA] ``--bf16 True``) or ``"fp32"``. Trained weights stay fp32.
        gradient_checkpointing: recompute LM activations in the backward pass ([LLaVA] True; memory only, off by
            default here because the CPU runs are small).
        lora_r: LoRA rank ([LLaVA] finetune_lora.sh 128).
        lora_alpha: LoRA scaling numerator ([LLaVA] 256).
        lora_dropout: LoRA dropout ([LLaVA] train.py 0.05).
        seed: data order and LoRA init.
        save_interval: optimizer steps between checkpoints (ours: 50); the last step is always saved.
        n_saved: checkpoints kept (ours: 2; [LLaVA] ``save_total_limit 1``).
        log_interval: steps between TensorBoard writes ([LLaVA] ``logging_steps 1``).
        num_workers: DataLoader workers (features are in memory: 0).
    """

    mode: str = "full"
    epochs: int = 3
    global_batch_size: int = 128
    micro_batch_size: int = 16
    lr: float | None = None
    projector_lr: float | None = None
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0
    precision: str = "bf16"
    gradient_checkpointing: bool = False
    lora_r: int = 128
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    seed: int = 0
    save_interval: int = 50
    n_saved: int = 2
    log_interval: int = 1
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.mode not in TRAINING_MODES:
            raise ValueError(f"ReportTrainConfig.mode={self.mode!r} is not valid; valid values: "
                             f"{list(TRAINING_MODES)}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"ReportTrainConfig.precision={self.precision!r}; valid values: {list(PRECISIONS)}.")
        if min(self.epochs, self.global_batch_size, self.micro_batch_size, self.n_saved, self.log_interval) < 1:
            raise ValueError(
                "ReportTrainConfig: epochs, global_batch_size, micro_batch_size, n_saved and log_interval must be "
                f">= 1, found {self.epochs}, {self.global_batch_size}, {self.micro_batch_size}, {self.n_saved}, "
                f"{self.log_interval}."
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"ReportTrainConfig.warmup_ratio must lie in [0, 1), found {self.warmup_ratio}.")
        self.adam_betas = (float(self.adam_betas[0]), float(self.adam_betas[1]))

    @property
    def training_mode(self) -> TrainingMode:
        """The :class:`TrainingMode` of ``mode``."""
        return TRAINING_MODES[self.mode]

    def lm_lr(self) -> float | None:
        """Learning rate of the trained LM parameters (``None`` in projector-only mode)."""
        if not self.training_mode.trains_lm:
            return None
        return float(self.lr if self.lr is not None else self.training_mode.lr)

    def projector_learning_rate(self) -> float:
        """Learning rate of the projector."""
        return float(self.projector_lr if self.projector_lr is not None else self.training_mode.projector_lr)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able copy."""
        return dataclasses.asdict(self)


@dataclass
class ReportGenerationConfig:
    """Decoding settings.

    Args:
        max_new_tokens: longest generated report (150 [PAPER]).
        num_beams: 1 = greedy (ours: the paper does not state its decoding); > 1 = beam search.
        use_cache: reuse the attention keys/values of earlier positions (KV cache; transformers ``generate``).
            False = recompute the whole sequence at every step (greedy only; same tokens, slower).
        batch_size: images per ``generate`` call; prompts are left-padded.
        precision: ``"fp32"`` or ``"bf16"`` (autocast).
        min_new_tokens: generate at least this many tokens (0 = stop at the first eos; the benchmark sets it to
            ``max_new_tokens`` to time fixed lengths).
    """

    max_new_tokens: int = 150
    num_beams: int = 1
    use_cache: bool = True
    batch_size: int = 8
    precision: str = "fp32"
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(f"ReportGenerationConfig.min_new_tokens must lie in [0, max_new_tokens], found "
                             f"{self.min_new_tokens}.")
        if min(self.max_new_tokens, self.num_beams, self.batch_size) < 1:
            raise ValueError(
                "ReportGenerationConfig: max_new_tokens, num_beams and batch_size must be >= 1, found "
                f"{self.max_new_tokens}, {self.num_beams}, {self.batch_size}."
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"ReportGenerationConfig.precision={self.precision!r}; valid values: {list(PRECISIONS)}.")
        if not self.use_cache and self.num_beams > 1:
            raise ValueError("ReportGenerationConfig: decoding without the KV cache is greedy only; set num_beams=1 "
                             "or use_cache=True.")

"""Training modes: which parameters of a :class:`~raddino_monai.report.model.ReportGenerator` learn, at what lr.

* ``full``: projector + every LM weight ([PAPER], LLaVA-1.5 fine-tuning).
* ``lora``: projector + peft LoRA adapters on every linear layer of the LM except the output head (peft
  ``target_modules="all-linear"`` = [LLaVA] ``find_all_linear_names``, which drops ``lm_head``); base weights frozen.
* ``projector``: projector only (LLaVA stage 1 / LLaVA-Rad stage 1); the LM is frozen.

The encoder is frozen in every mode. Optimizer groups carry ``base_lr`` (the peak of the schedule) and ``name``.
"""

from __future__ import annotations

from typing import Any

import torch

from raddino_monai.report.config import ReportTrainConfig
from raddino_monai.report.model import ReportGenerator

__all__ = ["apply_training_mode", "trainable_parameters", "build_optimizer"]


def _add_lora(model: ReportGenerator, config: ReportTrainConfig) -> None:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, bias="none",
        target_modules="all-linear", task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]):  # adapter init from the run's seed, caller's RNG untouched
        torch.manual_seed(config.seed)
        model.lm = get_peft_model(model.lm, lora)


def apply_training_mode(model: ReportGenerator, config: ReportTrainConfig) -> list[dict[str, Any]]:
    """Freeze / unfreeze (and wrap with LoRA) for ``config.mode``; return the optimizer parameter groups.

    Args:
        model: the report model (modified in place: ``model.mode`` is set, ``model.lm`` may become a peft model).
        config: training settings.

    Returns:
        parameter groups ``[{"name", "params", "lr", "base_lr"}, ...]`` (projector first, then the LM's trained
        parameters if any).

    Raises:
        ValueError: LoRA on a model that already carries adapters; projector-only training of a text-only model.
    """
    mode = config.training_mode
    if not mode.trains_lm and not model.config.image_tokens:
        raise ValueError(
            "A text-only model (image_tokens=False) in mode 'projector' has nothing to train (its projector is never "
            "used): train it with mode 'lora' or 'full', or generate with the frozen LM as it is (zero-shot)."
        )
    if mode.lora and hasattr(model.lm, "peft_config"):
        raise ValueError("apply_training_mode: the LM already has LoRA adapters; load the base model again.")
    if model.encoder is not None:
        model.encoder.requires_grad_(False)
    model.lm.requires_grad_(False)
    if mode.lora:
        _add_lora(model, config)  # peft leaves only the adapters trainable
    elif mode.trains_lm:
        model.lm.requires_grad_(True)
    model.projector.requires_grad_(True)
    if config.gradient_checkpointing:
        model.lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.mode = mode.name
    groups = [{"name": "projector", "params": list(model.projector.parameters()),
               "lr": config.projector_learning_rate(), "base_lr": config.projector_learning_rate()}]
    lm_params = [p for p in model.lm.parameters() if p.requires_grad]
    if lm_params:
        groups.append({"name": "lm", "params": lm_params, "lr": config.lm_lr(), "base_lr": config.lm_lr()})
    return groups


def trainable_parameters(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """Parameters with ``requires_grad``, by name (the state a training checkpoint holds)."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def build_optimizer(groups: list[dict[str, Any]], config: ReportTrainConfig) -> torch.optim.Optimizer:
    """AdamW over the groups ([HF-TA] betas / eps, [LLaVA] weight decay 0)."""
    return torch.optim.AdamW(groups, betas=config.adam_betas, eps=config.adam_eps, weight_decay=config.weight_decay)

"""Pretrain a report language model (causal LM or MLM) with :class:`~raddino_monai.text.trainer.TextPretrainer`.

:func:`pretrain_text_model` wires the pieces: a seeded train / validation split; tokenised reports
(:class:`~raddino_monai.text.corpus.TokenizedReports`); the resumable data order of the SSL engine
(``ResumableDistributedSampler`` + ``SeededDataset``: the batch stream depends only on the seed); AdamW with nanoGPT's
decay / no-decay parameter groups; warm-up + cosine learning rate; and the engine handlers: atomic checkpoints with
exact resume (``SSLCheckpointHandler`` in ``<output_dir>/checkpoints``), ``NaNGuard``, TensorBoard scalars
(``<output_dir>/tb``: ``loss/loss``, ``schedule/lr``, ``grad_norm/model``) and a progress bar. At the end the model
is saved with ``save_pretrained(output_dir)`` and the validation loss is measured.

Example::

    >>> summary = pretrain_text_model(model, tokenizer, texts, "runs/lm", objective="causal",
    ...                               config=PretrainConfig(epochs=1))
    >>> summary["val_loss"], summary["steps"]
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from torch.utils.data import DataLoader
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from raddino_monai.data.samplers import ResumableDistributedSampler, SeededDataset
from raddino_monai.engines.handlers import NaNGuard, SSLCheckpointHandler, SSLProgressBar, SSLTensorBoardHandler
from raddino_monai.ssl.schedules import CosineSchedule
from raddino_monai.text.config import BertEncoderConfig, PretrainConfig
from raddino_monai.text.corpus import OBJECTIVES, CausalLMCollate, MLMCollate, TokenizedReports, split_validation
from raddino_monai.text.trainer import TextPretrainer, prepare_text_batch

__all__ = ["param_groups", "validation_loss", "pretrain_text_model"]


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """nanoGPT ``configure_optimizers``: decay tensors with >= 2 dims, not biases / norms (tied weights once)."""
    params = {id(p): p for p in model.parameters() if p.requires_grad}.values()
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


@torch.no_grad()
def validation_loss(
    model: PreTrainedModel, dataset: TokenizedReports, collate: Any, batch_size: int, device: str | torch.device
) -> float:
    """Mean loss per predicted token over ``dataset`` (NaN when it is empty), model in eval mode.

    The causal LM predicts every token but the first of a sequence; the MLM its masked tokens (the collate's seeded
    masks, so the number is reproducible).
    """
    if len(dataset) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    items = [dataset[i] for i in range(len(dataset))]
    for start in range(0, len(items), batch_size):
        batch = prepare_text_batch(collate(items[start : start + batch_size]), device)
        predicted = batch["labels"][:, 1:] if isinstance(collate, CausalLMCollate) else batch["labels"]
        n = int((predicted != -100).sum())
        if n:
            total += float(model(**batch).loss) * n
            count += n
    model.train(was_training)
    return total / count if count else float("nan")


def pretrain_text_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    output_dir: str | os.PathLike[str],
    objective: str,
    config: PretrainConfig | None = None,
    mlm: BertEncoderConfig | None = None,
    resume: bool = True,
    handlers: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train ``model`` on ``texts`` and save it to ``output_dir``.

    Args:
        model: random-init (or partly trained) ``transformers`` model: causal LM or ``BertForMaskedLM``.
        tokenizer: its tokenizer.
        texts: training reports (a seeded ``config.val_fraction`` is held out).
        output_dir: folder for ``checkpoints/``, ``tb/`` and the saved model (``save_pretrained``).
        objective: ``"causal"`` or ``"mlm"``.
        config: loop settings (default :class:`PretrainConfig()`).
        mlm: masking settings for ``"mlm"`` (default :class:`BertEncoderConfig()`'s).
        resume: continue from the newest checkpoint in ``output_dir/checkpoints`` if there is one.
        handlers: more MONAI / ignite handlers (``attach(engine)``), attached after the built-in ones.

    Returns:
        summary: ``steps``, ``epochs``, ``n_train``, ``n_val``, ``train_tokens``, ``parameters``,
        ``final_train_loss`` (mean of the last 20 steps run), ``val_loss``, ``val_perplexity``, ``seconds``,
        ``tokens_per_s``, ``resumed_from``.

    Raises:
        ValueError: unknown objective, or fewer than 2 reports.
    """
    cfg = config or PretrainConfig()
    if objective not in OBJECTIVES:
        raise ValueError(f"objective={objective!r} is not valid; valid values are {list(OBJECTIVES)}.")
    if len(texts) < 2:
        raise ValueError(f"need at least 2 reports to pretrain on, found {len(texts)}.")
    out = Path(output_dir).expanduser()
    train_idx, val_idx = split_validation(len(texts), cfg.val_fraction, cfg.seed)
    train_ds = TokenizedReports([texts[i] for i in train_idx], tokenizer, cfg.max_length, objective)
    val_ds = TokenizedReports([texts[i] for i in val_idx], tokenizer, cfg.max_length, objective)
    masking = mlm or BertEncoderConfig()
    collate = (CausalLMCollate(tokenizer.pad_token_id) if objective == "causal"
               else MLMCollate(tokenizer, masking.mlm_probability, masking.mask_replace_prob,
                               masking.random_replace_prob, seed=cfg.seed))  # fmt: skip
    sampler = ResumableDistributedSampler(len(train_ds), shuffle=True, seed=cfg.seed, num_replicas=1, rank=0)
    loader = DataLoader(SeededDataset(train_ds, seed=cfg.seed), batch_size=cfg.batch_size, sampler=sampler,
                        collate_fn=collate, num_workers=cfg.num_workers)  # fmt: skip
    total = cfg.epochs * len(loader)
    schedule = CosineSchedule(base=cfg.lr, final=cfg.lr * cfg.min_lr_ratio, total_iters=total,
                              warmup_iters=min(cfg.warmup_steps, total))  # fmt: skip
    model.to(cfg.device)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    checkpoints = SSLCheckpointHandler(out / "checkpoints", save_interval=cfg.save_every, n_saved=cfg.n_saved,
                                       resume=resume)  # fmt: skip
    built_in = [checkpoints, NaNGuard(), SSLTensorBoardHandler(out / "tb", interval=cfg.log_every), SSLProgressBar()]
    trainer = TextPretrainer(cfg.device, max_epochs=cfg.epochs, train_data_loader=loader, network=model,
                             optimizer=optimizer, lr_schedule=schedule, precision=cfg.precision,
                             clip_grad=cfg.clip_grad, train_handlers=[*built_in, *handlers])  # fmt: skip
    losses: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output["losses"]["loss"]))
    start = time.perf_counter()
    trainer.run()
    seconds = time.perf_counter() - start
    val = validation_loss(model, val_ds, collate, cfg.batch_size, cfg.device)
    model.save_pretrained(str(out))
    steps_run = len(losses)
    tokens = train_ds.num_tokens() * steps_run / max(len(loader), 1)
    return {
        "objective": objective, "steps": total, "steps_run": steps_run, "epochs": cfg.epochs,
        "n_train": len(train_ds), "n_val": len(val_ds), "train_tokens": train_ds.num_tokens(),
        "parameters": sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()),
        "final_train_loss": sum(losses[-20:]) / len(losses[-20:]) if losses else float("nan"),
        "val_loss": val, "val_perplexity": math.exp(val) if math.isfinite(val) else float("nan"),
        "seconds": seconds, "tokens_per_s": tokens / seconds if seconds > 0 else float("nan"),
        "resumed_from": str(checkpoints.resumed_from) if checkpoints.resumed_from else None,
    }  # fmt: skip

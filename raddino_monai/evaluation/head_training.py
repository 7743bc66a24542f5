"""The training loop shared by the frozen-backbone probes: a trainable head, one optimizer, a per-step cosine lr.

Used by :func:`.linear_probe.train_linear_head` (AdamW, optional linear warm-up) and
:func:`.segmentation.train_segmentation` (Adam, no warm-up). The lr multiplier is a linear warm-up
``(step + 1) / warmup`` followed by a half cosine from 1 to 0 over the remaining steps (reached at the last step and
held after it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["cosine_lambda", "train_head"]


def cosine_lambda(total: int, warmup: int = 0) -> Callable[[int], float]:
    """Per-step lr multiplier: linear warm-up over ``warmup`` steps, then cosine decay to 0 at step ``total``.

    Args:
        total: schedule length in steps (warm-up included).
        warmup: warm-up steps (0: start the cosine at once).

    Returns:
        ``step -> multiplier`` for :class:`torch.optim.lr_scheduler.LambdaLR`.

    Example:
        >>> fn = cosine_lambda(total=4, warmup=2)
        >>> [round(fn(s), 3) for s in range(5)]
        [0.5, 1.0, 1.0, 0.5, 0.0]
    """

    def fn(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return fn


def train_head(
    module: nn.Module,
    batches: Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
    epochs: int,
    steps_per_epoch: int,
    warmup_steps: int = 0,
    device: str | torch.device = "cpu",
    desc: str = "train",
    log: Callable[[str, float, int], None] | None = None,
) -> list[float]:
    """Train the parameters of ``module`` that require grad, with a per-step :func:`cosine_lambda` lr schedule.

    Args:
        module: the model (moved to ``device`` and put in train mode; frozen parts stay frozen).
        batches: ``epoch -> iterable of (inputs, targets)``; inputs ``(B, ...)`` go to ``module``.
        loss_fn: ``(module output, targets) -> scalar loss``.
        optimizer: factory ``trainable parameters -> optimizer`` (e.g. ``functools.partial(torch.optim.Adam, lr=...)``).
        epochs: passes over ``batches``.
        steps_per_epoch: batches per epoch (sets the schedule length ``epochs * steps_per_epoch``).
        warmup_steps: linear lr warm-up steps.
        device: torch device.
        desc: progress-bar label.
        log: optional ``(tag, value, step)`` sink (e.g. TensorBoard ``add_scalar``); gets ``train/loss`` every step.

    Returns:
        mean training loss per epoch (NaN for an epoch without batches).
    """
    device = torch.device(device)
    module.to(device).train()
    opt = optimizer([p for p in module.parameters() if p.requires_grad])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(max(1, epochs * steps_per_epoch), warmup_steps))
    history: list[float] = []
    step = 0
    for epoch in tqdm(range(epochs), desc=desc, leave=False):
        losses = []
        for inputs, target in batches(epoch):
            loss = loss_fn(module(inputs.to(device)), target.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            if log is not None:
                log("train/loss", losses[-1], step)
            step += 1
        history.append(float(np.mean(losses)) if losses else math.nan)
    return history

"""TextPretrainer: a MONAI ``SupervisedTrainer`` whose iteration is one language-model step (causal LM or MLM).

Per iteration: learning rate from a pure schedule of the iteration (so checkpoints need no scheduler state); batch
to device; ``loss = loss_function(model(**batch))`` with :func:`model_loss` (``transformers`` computes the shifted
causal / masked cross-entropy from ``labels``) inside optional bf16 autocast; backward; global gradient-norm clip;
AdamW step. The output dict has the keys the project's SSL handlers read (``loss``, ``losses``, ``schedule``,
``grad_norms``, ``batch_size``), so ``SSLCheckpointHandler`` (atomic checkpoints, exact resume), ``NaNGuard``,
``SSLTensorBoardHandler`` and ``SSLProgressBar`` attach unchanged.

Example::

    >>> trainer = TextPretrainer("cpu", max_epochs=1, train_data_loader=loader, network=model, optimizer=opt,
    ...                          lr_schedule=CosineSchedule(1e-3, 1e-4, total_iters=100, warmup_iters=10))
    >>> trainer.run()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys as Keys
from torch import nn
from torch.utils.data import DataLoader

from raddino_monai.engines.ssl_trainer import AUTOCAST_DTYPES
from raddino_monai.ssl.schedules import CosineSchedule

__all__ = ["TextScheduleValues", "TextPretrainer", "prepare_text_batch", "model_loss", "TEXT_PRECISIONS"]

#: valid ``precision`` values (fp16 needs a GradScaler and CUDA; not offered for these small CPU models)
TEXT_PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
TEXT_BATCH_KEYS: tuple[str, ...] = ("input_ids", "attention_mask", "labels")


def model_loss(output: Any) -> torch.Tensor:
    """The loss a ``transformers`` model computed from ``labels`` (its output's ``.loss``), in fp32."""
    return output.loss.float()


@dataclass(frozen=True)
class TextScheduleValues:
    """Schedule values of one iteration (logged under ``schedule/`` by the TensorBoard handler)."""

    lr: float


def prepare_text_batch(
    batchdata: Mapping[str, Any], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs: Any
) -> dict[str, torch.Tensor]:
    """Move ``input_ids`` / ``attention_mask`` / ``labels`` to ``device``.

    Raises:
        KeyError: a key is missing (the message lists the keys found).
    """
    missing = [k for k in TEXT_BATCH_KEYS if k not in batchdata]
    if missing:
        raise KeyError(f"text batch lacks {missing}; found {sorted(batchdata)}. Use CausalLMCollate / MLMCollate.")
    return {k: torch.as_tensor(batchdata[k]).to(device=device, non_blocking=non_blocking, **kwargs)
            for k in TEXT_BATCH_KEYS}  # fmt: skip


class TextPretrainer(SupervisedTrainer):
    """Language-model pretraining on MONAI engines.

    Args:
        device: training device.
        max_epochs: epochs to run.
        train_data_loader: loader of :mod:`raddino_monai.text.corpus` collate batches.
        network: a ``transformers`` model that returns ``.loss`` when given ``labels``.
        optimizer: optimizer over the model's parameters (every group gets the scheduled lr).
        lr_schedule: learning rate per 0-based iteration.
        epoch_length: iterations per epoch (default ``len(train_data_loader)``).
        precision: ``"fp32"`` or ``"bf16"`` (autocast).
        clip_grad: max global gradient norm; 0 disables clipping (the norm is still logged).
        train_handlers: MONAI/ignite handlers with ``attach(engine)``.
        kwargs: other ``SupervisedTrainer`` arguments.

    Raises:
        ValueError: unknown ``precision`` (valid values listed).
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        network: nn.Module,
        optimizer: torch.optim.Optimizer,
        lr_schedule: CosineSchedule,
        epoch_length: int | None = None,
        precision: str = "fp32",
        clip_grad: float = 1.0,
        train_handlers: Sequence | None = None,
        **kwargs: Any,
    ) -> None:
        if precision not in TEXT_PRECISIONS:
            raise ValueError(f"precision={precision!r} is not valid; valid values are {list(TEXT_PRECISIONS)}.")
        super().__init__(
            device=torch.device(device), max_epochs=max_epochs, train_data_loader=train_data_loader, network=network,
            optimizer=optimizer, loss_function=model_loss, epoch_length=epoch_length,
            prepare_batch=prepare_text_batch, train_handlers=train_handlers, amp=False, decollate=False, **kwargs,
        )  # fmt: skip
        self.lr_schedule, self.precision, self.clip_grad = lr_schedule, precision, clip_grad

    def _autocast(self) -> contextlib.AbstractContextManager:
        dtype = AUTOCAST_DTYPES[self.precision]
        return contextlib.nullcontext() if dtype is None else torch.autocast(self.state.device.type, dtype=dtype)

    def _iteration(self, engine: TextPretrainer, batchdata: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        """One optimisation step; returns the output dict described in the module docstring.

        Raises:
            ValueError: ``batchdata`` is None.
        """
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        lr = engine.lr_schedule.value(engine.state.iteration - 1)
        for group in engine.optimizer.param_groups:
            group["lr"] = lr
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=True)
        with engine._autocast():
            loss = engine.loss_function(engine.network(**batch))
        engine.state.output = {
            Keys.LOSS: loss.detach(), "losses": {"loss": float(loss.detach())},
            "schedule": TextScheduleValues(lr=lr), "batch_size": int(batch["input_ids"].shape[0]),
        }  # fmt: skip
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        loss.backward()
        max_norm = engine.clip_grad if engine.clip_grad > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(engine.network.parameters(), max_norm)
        engine.state.output["grad_norms"] = {"model": float(norm)}
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        engine.optimizer.step()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output

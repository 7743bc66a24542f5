"""ReportTrainer: a MONAI ``SupervisedTrainer`` whose iteration is one optimizer step over a global batch.

One engine iteration = one optimizer step: the loader yields the global batch (128 [PAPER]) and the iteration runs
it in micro-batches, accumulating gradients of the summed token loss divided by the global batch's target-token
count, so the step equals one large-batch step whatever the micro-batch size. Checkpoints therefore always fall on
step boundaries, and the project's SSL handlers plug in unchanged: :class:`ReportCheckpointHandler` (the SSL
checkpoint handler saving only the trained parameters: atomic writes, keep-last-N, exact resume including RNG and
data position), ``NaNGuard``, ``SSLTensorBoardHandler`` (``loss/loss``, ``schedule/lr``, ``schedule/projector_lr``,
``grad_norm/trainable``, throughput), ``SSLProgressBar``, ``ThroughputMonitor``.

Learning rate: [HF-TA] ``get_cosine_schedule_with_warmup`` as LLaVA's HF ``Trainer`` uses it: linear from 0 over
``ceil(warmup_ratio * total)`` steps, then a half cosine to 0; step ``k`` (0-based) uses factor ``f(k)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from ignite.engine import Engine
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys as Keys
from torch.utils.data import DataLoader

from raddino_monai.engines.handlers import SSLCheckpointHandler
from raddino_monai.report.config import IGNORE_INDEX, ReportTrainConfig
from raddino_monai.report.model import ReportGenerator, autocast_context
from raddino_monai.report.modes import trainable_parameters

__all__ = [
    "warmup_steps",
    "cosine_with_warmup",
    "ReportScheduleValues",
    "TrainableState",
    "ReportCheckpointHandler",
    "prepare_report_batch",
    "ReportTrainer",
]

#: batch tensors moved to the device
_TENSOR_KEYS = ("features", "input_ids", "attention_mask", "labels")


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """``ceil(total_steps * warmup_ratio)`` ([HF-TA] ``TrainingArguments.get_warmup_steps``)."""
    return math.ceil(total_steps * warmup_ratio)


def cosine_with_warmup(step: int, total_steps: int, n_warmup: int) -> float:
    """Learning-rate factor of optimizer step ``step`` (0-based); [HF-TA] cosine schedule with 0.5 cycles.

    Example:
        >>> [round(cosine_with_warmup(k, 10, 2), 3) for k in range(4)]
        [0.0, 0.5, 1.0, 0.962]
    """
    if step < n_warmup:
        return step / max(1, n_warmup)
    progress = (step - n_warmup) / max(1, total_steps - n_warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


@dataclass(frozen=True)
class ReportScheduleValues:
    """Learning rates of one step (logged under ``schedule/``)."""

    lr: float
    projector_lr: float


class TrainableState:
    """The trained parameters of a model as a ``state_dict`` / ``load_state_dict`` pair (checkpoint content).

    Args:
        model: module whose parameters with ``requires_grad`` are saved.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Detached trained parameters by name."""
        return {name: p.detach() for name, p in trainable_parameters(self.model).items()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Copy ``state`` into the trained parameters (strict).

        Raises:
            RuntimeError: missing / unexpected names or shape mismatches (listed, one kind per line).
        """
        params = trainable_parameters(self.model)
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(params[k].shape)}" for k in sorted(set(params) & set(state))
                  if state[k].shape != params[k].shape]
        if missing or unexpected or shapes:
            raise RuntimeError(
                "Error(s) in loading the trained parameters:\n"
                f"\tmissing: {missing[:5]}\n\tunexpected: {unexpected[:5]}\n\tshape mismatch: {shapes[:5]}"
            )
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(state[name])


class ReportCheckpointHandler(SSLCheckpointHandler):
    """:class:`~raddino_monai.engines.handlers.SSLCheckpointHandler` (same files, guarantees and arguments) that
    stores only the trained parameters (projector, LoRA adapters or the LM), not the frozen LM and encoder.

    Example::

        >>> ReportCheckpointHandler("runs/report/checkpoints", save_interval=50, n_saved=2).attach(trainer)
    """

    @staticmethod
    def _model(engine: Engine) -> TrainableState:  # type: ignore[override]
        return TrainableState(engine.network)  # type: ignore[attr-defined]


def prepare_report_batch(
    batchdata: Mapping[str, Any], device: str | torch.device | None = None, non_blocking: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """Move a :class:`~raddino_monai.report.data.ReportCollate` batch to ``device`` (ids stay a list).

    Raises:
        KeyError: a tensor key is missing (the keys found are listed).
    """
    missing = [k for k in _TENSOR_KEYS if k not in batchdata]
    if missing:
        raise KeyError(f"report batch lacks {missing}; found {sorted(batchdata)}. Use ReportCollate.")
    out = {k: batchdata[k].to(device=device, non_blocking=non_blocking, **kwargs) for k in _TENSOR_KEYS}
    out["ids"] = list(batchdata.get("ids", []))
    return out


class ReportTrainer(SupervisedTrainer):
    """Train a :class:`~raddino_monai.report.model.ReportGenerator` on cached encoder tokens.

    Args:
        device: training device.
        max_epochs: epochs (``config.epochs``).
        train_data_loader: yields :class:`~raddino_monai.report.data.ReportCollate` batches of the global size.
        network: the model, after :func:`~raddino_monai.report.modes.apply_training_mode`.
        optimizer: over the mode's groups (each with ``base_lr`` and ``name``).
        config: training settings (micro-batch, precision, clipping, warm-up).
        total_steps: optimizer steps of the whole run (sets the schedule).
        epoch_length: steps per epoch (default ``len(train_data_loader)``).
        train_handlers: handlers with ``attach(engine)``.
        kwargs: other ``SupervisedTrainer`` arguments.

    ``engine.state.output``: ``"loss"`` (mean token loss of the step), ``"losses"`` (``{"loss": float}``),
    ``"schedule"`` (:class:`ReportScheduleValues`), ``"grad_norms"`` (``{"trainable": pre-clip norm}``),
    ``"batch_size"`` (images), ``"tokens"`` (target tokens).
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        network: ReportGenerator,
        optimizer: torch.optim.Optimizer,
        config: ReportTrainConfig,
        total_steps: int,
        epoch_length: int | None = None,
        train_handlers: Sequence | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            device=torch.device(device), max_epochs=max_epochs, train_data_loader=train_data_loader,
            network=network, optimizer=optimizer, loss_function=network.loss, epoch_length=epoch_length,
            prepare_batch=prepare_report_batch, train_handlers=train_handlers, amp=False, decollate=False, **kwargs,
        )
        self.config = config
        self.total_steps = int(total_steps)
        self.n_warmup = warmup_steps(self.total_steps, config.warmup_ratio)

    def schedule_values(self, step: int) -> ReportScheduleValues:
        """Learning rates of 0-based step ``step`` per group name."""
        factor = cosine_with_warmup(step, self.total_steps, self.n_warmup)
        lrs = {g["name"]: g["base_lr"] * factor for g in self.optimizer.param_groups}
        return ReportScheduleValues(lr=lrs.get("lm", 0.0), projector_lr=lrs["projector"])

    def _iteration(self, engine: ReportTrainer, batchdata: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        """One optimizer step over the global batch; see the module docstring."""
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        step = engine.state.iteration - 1
        factor = cosine_with_warmup(step, engine.total_steps, engine.n_warmup)
        for group in engine.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=True)
        n_tokens = int((batch["labels"] != IGNORE_INDEX).sum())
        total = torch.zeros((), device=engine.state.device)
        size, micro = batch["input_ids"].shape[0], engine.config.micro_batch_size
        for start in range(0, size, micro):
            part = {k: batch[k][start : start + micro] for k in _TENSOR_KEYS}
            with autocast_context(engine.config.precision, engine.state.device):
                loss_sum = engine.loss_function(part["features"], part["input_ids"], part["attention_mask"],
                                                part["labels"])
            (loss_sum / max(1, n_tokens)).backward()
            total += loss_sum.detach()
        loss = total / max(1, n_tokens)
        engine.state.output = {
            Keys.LOSS: loss, "losses": {"loss": float(loss)}, "schedule": engine.schedule_values(step),
            "batch_size": size, "tokens": n_tokens,
        }
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        engine.fire_event(IterationEvents.LOSS_COMPLETED)
        params = list(trainable_parameters(engine.network).values())
        max_norm = engine.config.max_grad_norm if engine.config.max_grad_norm > 0 else float("inf")
        engine.state.output["grad_norms"] = {"trainable": float(torch.nn.utils.clip_grad_norm_(params, max_norm))}
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        engine.optimizer.step()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
